"""One resource of each type the AWS API's model checks (aifactory.aws.plan.api_model.API_CALLS), all
valid; API_FAULT=<name> gives one of them a value the API refuses (see FAULTS in test_api_model.py).
"""

import os

import pulumi
import pulumi_aws as aws

FAULT = os.environ.get("API_FAULT", "")


def pick(fault: str, bad, good):
    """`bad` when this run seeds `fault`, else `good`."""
    return bad if FAULT == fault else good


aws.accessanalyzer.Analyzer("analyzer", analyzer_name="factory-account", type=pick("analyzer_type", "PLANET", "ACCOUNT"))
dxgw = aws.directconnect.Gateway("dxgw", name="factory-dxgw", amazon_side_asn=pick("dx_asn", "65535", "64513"))
aws.directconnect.TransitVirtualInterface("dx-vif", name="factory-dx-vif", connection_id="dxcon-ffa1b2c3",
                                          dx_gateway_id=dxgw.id, vlan=pick("vif_vlan", 5000, 101),
                                          address_family="ipv4", bgp_asn=65010, mtu=8500)
aws.directconnect.GatewayAssociation("dx-assoc", dx_gateway_id=dxgw.id, associated_gateway_id="tgw-0123456789abcdef0",
                                     allowed_prefixes=pick("prefix_type", [65536], ["10.210.0.0/22"]))
aws.rolesanywhere.TrustAnchor("anchor", enabled=True, source={
    "source_type": pick("anchor_source", "PEM_FILE", "CERTIFICATE_BUNDLE"),
    "source_data": {"x509_certificate_data": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}})
aws.rolesanywhere.Profile("profile", enabled=True, duration_seconds=pick("profile_duration", 86400, 3600),
                          role_arns=["arn:aws:iam::123456789012:role/factory-node"])
guardrail = aws.bedrock.Guardrail("guardrail", blocked_input_messaging="blocked", blocked_outputs_messaging="blocked",
                                  content_policy_config={"filters_configs": [{
                                      "type": "PROMPT_ATTACK", "input_strength": pick("guardrail_strength", "EXTREME", "HIGH"),
                                      "output_strength": "NONE"}]})
aws.bedrock.GuardrailVersion("guardrail-version", guardrail_arn=guardrail.guardrail_arn,
                             description=pick("version_description", "d" * 201, "deployed by aifactory"))
aws.ssm.Activation("activation", iam_role="factory-ssm", registration_limit=pick("activation_limit", 5000, 72),
                   expiration_date="2027-01-04T22:11:55Z")
aws.ec2transitgateway.RouteTableAssociation("tgw-assoc", transit_gateway_attachment_id="tgw-attach-0123456789abcdef0",
                                            transit_gateway_route_table_id=pick("association_type", 7, "tgw-rtb-0123456789abcdef0"))
aws.ec2transitgateway.RouteTablePropagation("tgw-prop", transit_gateway_attachment_id="tgw-attach-0123456789abcdef0",
                                            transit_gateway_route_table_id=pick("propagation_type", 7, "tgw-rtb-0123456789abcdef0"))
store = aws.kms.CustomKeyStore(
    "xks", custom_key_store_name="factory-xks", custom_key_store_type="EXTERNAL_KEY_STORE",
    xks_proxy_uri_endpoint=pick("xks_endpoint", "http://xks.example.com", "https://xks.example.com"),
    xks_proxy_uri_path="/kms/xks/v1", xks_proxy_connectivity="PUBLIC_ENDPOINT",
    xks_proxy_authentication_credential={
        "access_key_id": "AIFACTORYOFFLINEPLANXKS",
        "raw_secret_access_key": pulumi.Output.secret(pick("xks_secret", "short-secret-do-not-print",
                                                           "offlinePlanPlaceholderNotTheSiteSecret000000000"))})
key = aws.kms.Key("key", description="factory data", key_usage=pick("key_usage", "SIGN_EVERYTHING", "ENCRYPT_DECRYPT"),
                  custom_key_store_id=store.id, enable_key_rotation=False)
aws.kms.Alias("alias", name=pick("alias_name", "alias/factory data", "alias/factory-data"), target_key_id=key.key_id)
aws.kms.KeyPolicy("key-policy", key_id=key.key_id, policy=pick("policy_size", "x" * 140000, '{"Version": "2012-10-17", "Statement": []}'))
