"""Keys: one customer-managed KMS key per purpose (data, logs), rotated; or keys in an external key store.

With `sovereignty.keys: external-key-store` the keys live in an XKS custom key store whose proxy the
customer runs. Its credentials come from the Pulumi config secrets `aifactory:xksAccessKeyId` and
`aifactory:xksSecretAccessKey`, and the external key ids from `aifactory:xksKeyIdData` and
`aifactory:xksKeyIdLogs`. pulumi-aws cannot *connect* a custom key store: run
`aws kms connect-custom-key-store` after the first `pulumi up` creates it, then `pulumi up` again.
KMS does not rotate XKS keys; the external key manager does.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra import policies
from infra.account import Account
from aifactory.spec.model import Sovereignty

PURPOSES = ("data", "logs")
XKS_CONNECTIVITY = {"public-endpoint": "PUBLIC_ENDPOINT", "vpc-endpoint-service": "VPC_ENDPOINT_SERVICE"}


class Keys(pulumi.ComponentResource):
    """KMS keys of the factory; `arns` maps purpose -> key ARN."""

    arns: dict[str, pulumi.Output[str]]

    def __init__(
        self, factory_name: str, sovereignty: Sovereignty, account: pulumi.Output[Account],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("aifactory:infra:Keys", f"{factory_name}-keys", None, opts)
        child = pulumi.ResourceOptions(parent=self)
        config = pulumi.Config("aifactory")
        store = self._external_key_store(factory_name, sovereignty, config, child) \
            if sovereignty.keys == "external-key-store" else None
        self.arns = {}
        for purpose in PURPOSES:
            policy = account.apply(lambda a, purpose=purpose: policies.kms_key_policy(
                partition=a.partition, account_id=a.id, region=sovereignty.region, factory_name=factory_name,
                purpose=purpose, bedrock_logging=sovereignty.bedrock_invocation_logs == "in-region",
            ))
            external = {} if store is None else {
                "custom_key_store_id": store.id,
                "xks_key_id": config.require(f"xksKeyId{purpose.capitalize()}"),
            }
            key = aws.kms.Key(
                f"{factory_name}-{purpose}-key",
                description=f"aifactory {factory_name}: {purpose}",
                enable_key_rotation=store is None,
                rotation_period_in_days=365 if store is None else None,
                deletion_window_in_days=30,
                multi_region=False,
                policy=policy,
                opts=child,
                **external,
            )
            aws.kms.Alias(f"{factory_name}-{purpose}-key-alias", name=f"alias/{factory_name}-{purpose}",
                          target_key_id=key.key_id, opts=child)
            self.arns[purpose] = key.arn
        self.register_outputs({"arns": self.arns})

    @staticmethod
    def _external_key_store(factory_name: str, sovereignty: Sovereignty, config: pulumi.Config,
                            opts: pulumi.ResourceOptions) -> aws.kms.CustomKeyStore:
        xks = sovereignty.external_key_store
        assert xks is not None, "aifactory.spec requires external_key_store with keys: external-key-store"
        return aws.kms.CustomKeyStore(
            f"{factory_name}-xks",
            custom_key_store_name=f"{factory_name}-xks",
            custom_key_store_type="EXTERNAL_KEY_STORE",
            xks_proxy_connectivity=XKS_CONNECTIVITY[xks.connectivity],
            xks_proxy_uri_endpoint=xks.proxy_uri_endpoint,
            xks_proxy_uri_path=xks.proxy_uri_path,
            xks_proxy_vpc_endpoint_service_name=xks.vpc_endpoint_service_name,
            xks_proxy_authentication_credential=aws.kms.CustomKeyStoreXksProxyAuthenticationCredentialArgs(
                access_key_id=config.require_secret("xksAccessKeyId"),
                raw_secret_access_key=config.require_secret("xksSecretAccessKey"),
            ),
            opts=opts,
        )
