"""Keys: one customer-managed KMS key per purpose (data, logs), rotated; or keys in an external key store.

With `sovereignty.keys: external-key-store` the keys live in an XKS custom key store whose proxy the
customer runs. Its credentials come from the Pulumi config secrets `aifactory:xksAccessKeyId` and
`aifactory:xksSecretAccessKey`, and the external key ids from `aifactory:xksKeyIdData` and
`aifactory:xksKeyIdLogs`. pulumi-aws cannot *connect* a custom key store: run
`aws kms connect-custom-key-store` after the first `pulumi up` creates it, then `pulumi up` again.
KMS does not rotate XKS keys; the external key manager does.

With `acceptance.certificate.signing: kms` the factory also has an asymmetric signing key (SIGN_VERIFY,
`alias/<name>-acceptance`, of the spec's `acceptance.certificate.kms_key_spec`: ECC_NIST_P256 by default,
RSA_3072 or RSA_4096) that signs the acceptance certificate. KMS rotates symmetric
encryption keys only: a signing key cannot rotate (its public key is what verifiers hold), so SOV-04
exempts SIGN_VERIFY keys from its rotation check.

Key policies name principals by exact ARN, and KMS refuses a policy naming a role that does not exist
yet, so each key's policy is its own resource (`aws.kms.KeyPolicy`), attached by `pin_policies` once
the roles exist. Until then a new key carries KMS's default policy (pulumi-aws, aws.kms.KeyPolicy).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import policies
from infra.account import Account
from aifactory.spec.model import Sovereignty

PURPOSES = ("data", "logs")
XKS_CONNECTIVITY = {"public-endpoint": "PUBLIC_ENDPOINT", "vpc-endpoint-service": "VPC_ENDPOINT_SERVICE"}


@dataclass(frozen=True)
class KeysArgs:
    """The spec's sovereignty section (key kind, region, invocation logging) and the deploying account."""

    sovereignty: Sovereignty
    account: pulumi.Output[Account]
    # the acceptance certificate's KMS signing key's spec (acceptance.certificate.kms_key_spec); None: no such key
    signing_key_spec: str | None = None


class Keys(pulumi.ComponentResource):
    """KMS keys of the factory; `arns` maps purpose -> key ARN."""

    arns: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: KeysArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aifactory:infra:Keys", f"{name}-keys", None, opts)
        child = pulumi.ResourceOptions(parent=self)
        config = pulumi.Config("aifactory")
        sovereignty = args.sovereignty
        store = self._external_key_store(name, sovereignty, config, child) \
            if sovereignty.keys == "external-key-store" else None
        self.factory_name, self.sovereignty, self.account = name, sovereignty, args.account
        self.arns = {}
        self.keys: dict[str, aws.kms.Key] = {}
        for purpose in PURPOSES:
            external = {} if store is None else {
                "custom_key_store_id": store.id,
                "xks_key_id": config.require(f"xksKeyId{purpose.capitalize()}"),
            }
            key = aws.kms.Key(
                f"{name}-{purpose}-key",
                description=f"aifactory {name}: {purpose}",
                enable_key_rotation=store is None,
                rotation_period_in_days=365 if store is None else None,
                deletion_window_in_days=30,
                multi_region=False,
                opts=child,
                **external,
            )
            aws.kms.Alias(f"{name}-{purpose}-key-alias", name=f"alias/{name}-{purpose}",
                          target_key_id=key.key_id, opts=child)
            self.arns[purpose] = key.arn
            self.keys[purpose] = key
        self.signing_key = self._signing_key(name, args.signing_key_spec, child) if args.signing_key_spec else None
        self.register_outputs({"arns": self.arns})

    @staticmethod
    def _signing_key(name: str, key_spec: str, opts: pulumi.ResourceOptions) -> aws.kms.Key:
        """The acceptance certificate's signing key: asymmetric, so it cannot rotate (SOV-04 exempts it)."""
        key = aws.kms.Key(
            f"{name}-acceptance-key",
            description=f"aifactory {name}: acceptance certificate signing",
            key_usage="SIGN_VERIFY",
            customer_master_key_spec=key_spec,
            enable_key_rotation=False,
            deletion_window_in_days=30,
            multi_region=False,
            opts=opts,
        )
        aws.kms.Alias(f"{name}-acceptance-key-alias", name=f"alias/{name}-acceptance", target_key_id=key.key_id, opts=opts)
        return key

    def pin_policies(self, administrators: list[pulumi.Input[str]], users: dict[str, list[pulumi.Input[str]]],
                     decrypters: dict[str, list[pulumi.Input[str]]]) -> None:
        """Each key's policy: `administrators` (role ARNs; the deployer is added), and per purpose the
        exact role ARNs that use the key or only decrypt with it; the signing key's signers are the
        administrators (the operators and the deployer)."""
        for purpose, key in self.keys.items():
            policy = pulumi.Output.all(self.account, pulumi.Output.all(*administrators),
                                       pulumi.Output.all(*users.get(purpose, [])),
                                       pulumi.Output.all(*decrypters.get(purpose, []))).apply(
                lambda v, purpose=purpose: policies.kms_key_policy(
                    partition=v[0].partition, account_id=v[0].id, region=self.sovereignty.region, purpose=purpose,
                    administrators=[*v[1], policies.role_arn(v[0].caller_arn)], users=self._users(purpose, v[0], v[2]),
                    decrypters=v[3],
                    bedrock_logging=self.sovereignty.bedrock_invocation_logs == "in-region"))
            aws.kms.KeyPolicy(f"{self.factory_name}-{purpose}-key-policy", key_id=key.key_id, policy=policy,
                              opts=pulumi.ResourceOptions(parent=self))
        if self.signing_key is not None:
            policy = pulumi.Output.all(self.account, pulumi.Output.all(*administrators)).apply(
                lambda v: policies.signing_key_policy(administrators=[*v[1], policies.role_arn(v[0].caller_arn)],
                                                      signers=[*v[1], policies.role_arn(v[0].caller_arn)]))
            aws.kms.KeyPolicy(f"{self.factory_name}-acceptance-key-policy", key_id=self.signing_key.key_id,
                              policy=policy, opts=pulumi.ResourceOptions(parent=self))

    @staticmethod
    def _users(purpose: str, account: Account, roles: list[str]) -> list[str]:
        """The deployer uses the data key too: creating a guardrail (or a SageMaker domain) on a customer
        key takes CreateGrant, Decrypt, GenerateDataKey and DescribeKey from the caller (Amazon Bedrock
        user guide, "Encryption of your guardrail")."""
        return [*roles, policies.role_arn(account.caller_arn)] if purpose == "data" else list(roles)

    @staticmethod
    def _external_key_store(name: str, sovereignty: Sovereignty, config: pulumi.Config,
                            opts: pulumi.ResourceOptions) -> aws.kms.CustomKeyStore:
        xks = sovereignty.external_key_store
        assert xks is not None, "aifactory.spec requires external_key_store with keys: external-key-store"
        return aws.kms.CustomKeyStore(
            f"{name}-xks",
            custom_key_store_name=f"{name}-xks",
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
