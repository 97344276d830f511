"""Which input properties of each AWS resource type the program declares force a new resource when they change.

Pulumi's AWS provider (pulumi/pulumi-aws) bridges hashicorp/terraform-provider-aws: a property whose Terraform
schema says `ForceNew: true` (SDKv2 resources) or carries a `RequiresReplace` plan modifier (plugin-framework
resources) is replaced, not updated, by `pulumi up`. The sets below are those properties of each resource's
schema in terraform-provider-aws (file named per type, under internal/service/), read December 2026, spelled as
pulumi-aws names them (camelCase, some pluralised). A type whose resource has no Update at all (SSM activation)
lists every input. Replacements decided at plan time by a CustomizeDiff on values (a transit gateway's default
route table association going from disable to enable, a subnet's IPv6 block after `assignIpv6AddressOnCreation`,
a gateway VPC endpoint's `privateDnsEnabled`) are not listed: they show as updates.
tests/reports/test_replace_on_change.py fails when the program declares a type this table lacks, or names a
property pulumi-aws does not have.
"""

from __future__ import annotations

UPSTREAM = "hashicorp/terraform-provider-aws internal/service"

# Pulumi type token -> (schema file under UPSTREAM, properties whose change replaces the resource)
REPLACE_ON_CHANGE: dict[str, tuple[str, frozenset[str]]] = {
    "aws:accessanalyzer/analyzer:Analyzer": ("accessanalyzer/analyzer.go", frozenset({
        "analyzerName", "configuration", "type"})),
    "aws:amp/workspace:Workspace": ("amp/workspace.go", frozenset({"kmsKeyArn"})),  # AMP updates only alias/logging
    "aws:bedrock/guardrail:Guardrail": ("bedrock/guardrail.go", frozenset()),
    "aws:bedrock/guardrailVersion:GuardrailVersion": ("bedrock/guardrail_version.go", frozenset({
        "description", "guardrailArn"})),
    "aws:bedrockmodel/invocationLoggingConfiguration:InvocationLoggingConfiguration": (
        "bedrock/model_invocation_logging_configuration.go", frozenset()),
    "aws:cloudtrail/trail:Trail": ("cloudtrail/trail.go", frozenset({"name"})),
    "aws:cloudwatch/logGroup:LogGroup": ("logs/group.go", frozenset({"logGroupClass", "name", "namePrefix"})),
    "aws:directconnect/gateway:Gateway": ("directconnect/gateway.go", frozenset({"amazonSideAsn"})),
    "aws:directconnect/gatewayAssociation:GatewayAssociation": ("directconnect/gateway_association.go", frozenset({
        "associatedGatewayId", "associatedGatewayOwnerAccountId", "dxGatewayId"})),
    "aws:directconnect/transitVirtualInterface:TransitVirtualInterface": (
        "directconnect/transit_virtual_interface.go", frozenset({
            "addressFamily", "amazonAddress", "bgpAsn", "bgpAuthKey", "connectionId", "customerAddress",
            "dxGatewayId", "name", "vlan"})),
    "aws:ec2/customerGateway:CustomerGateway": ("ec2/vpnsite_customer_gateway.go", frozenset({
        "bgpAsn", "bgpAsnExtended", "certificateArn", "deviceName", "ipAddress", "type"})),
    "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl": ("ec2/vpc_default_network_acl.go", frozenset({
        "defaultNetworkAclId"})),
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": ("ec2/vpc_default_security_group.go", frozenset({"vpcId"})),
    "aws:ec2/flowLog:FlowLog": ("ec2/vpc_flow_log.go", frozenset({
        "deliverCrossAccountRole", "destinationOptions", "eniId", "iamRoleArn", "logDestination",
        "logDestinationType", "logFormat", "maxAggregationInterval", "regionalNatGatewayId", "subnetId",
        "trafficType", "transitGatewayAttachmentId", "transitGatewayId", "vpcId"})),
    "aws:ec2/route:Route": ("ec2/vpc_route.go", frozenset({
        "destinationCidrBlock", "destinationIpv6CidrBlock", "destinationPrefixListId", "routeTableId"})),
    "aws:ec2/routeTable:RouteTable": ("ec2/vpc_route_table.go", frozenset({"vpcId"})),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": ("ec2/vpc_route_table_association.go", frozenset({
        "gatewayId", "subnetId"})),
    "aws:ec2/securityGroup:SecurityGroup": ("ec2/vpc_security_group.go", frozenset({
        "description", "name", "namePrefix", "vpcId"})),
    "aws:ec2/subnet:Subnet": ("ec2/vpc_subnet.go", frozenset({
        "availabilityZone", "availabilityZoneId", "cidrBlock", "ipv4IpamPoolId", "ipv4NetmaskLength",
        "ipv6IpamPoolId", "ipv6Native", "ipv6NetmaskLength", "outpostArn", "vpcId"})),
    "aws:ec2/vpc:Vpc": ("ec2/vpc_.go", frozenset({"cidrBlock", "ipv4IpamPoolId", "ipv4NetmaskLength"})),
    "aws:ec2/vpcEndpoint:VpcEndpoint": ("ec2/vpc_endpoint.go", frozenset({
        "resourceConfigurationArn", "serviceName", "serviceNetworkArn", "serviceRegion", "vpcEndpointType",
        "vpcId"})),
    "aws:ec2/vpnConnection:VpnConnection": ("ec2/vpnsite_connection.go", frozenset({
        "enableAcceleration", "presharedKeyStorage", "staticRoutesOnly", "tunnelInsideIpVersion", "tunnel1InsideCidr",
        "tunnel1InsideIpv6Cidr", "tunnel2InsideCidr", "tunnel2InsideIpv6Cidr", "type"})),
    # amazon_side_asn is updated in place since terraform-provider-aws PR #27306
    "aws:ec2transitgateway/transitGateway:TransitGateway": ("ec2/transitgateway_.go", frozenset({
        "multicastSupport"})),
    "aws:ec2transitgateway/routeTable:RouteTable": ("ec2/transitgateway_route_table.go", frozenset({
        "transitGatewayId"})),
    "aws:ec2transitgateway/routeTableAssociation:RouteTableAssociation": (
        "ec2/transitgateway_route_table_association.go", frozenset({
            "transitGatewayAttachmentId", "transitGatewayRouteTableId"})),
    "aws:ec2transitgateway/routeTablePropagation:RouteTablePropagation": (
        "ec2/transitgateway_route_table_propagation.go", frozenset({
            "transitGatewayAttachmentId", "transitGatewayRouteTableId"})),
    "aws:ec2transitgateway/vpcAttachment:VpcAttachment": ("ec2/transitgateway_vpc_attachment.go", frozenset({
        "transitGatewayId", "vpcId"})),
    "aws:iam/policy:Policy": ("iam/policy.go", frozenset({"description", "name", "namePrefix", "path"})),
    "aws:iam/role:Role": ("iam/role.go", frozenset({"name", "namePrefix", "path"})),
    "aws:iam/rolePolicy:RolePolicy": ("iam/role_policy.go", frozenset({"name", "namePrefix", "role"})),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ("iam/role_policy_attachment.go", frozenset({
        "policyArn", "role"})),
    "aws:kms/alias:Alias": ("kms/alias.go", frozenset({"name", "namePrefix"})),
    "aws:kms/customKeyStore:CustomKeyStore": ("kms/custom_key_store.go", frozenset({"customKeyStoreType"})),
    "aws:kms/key:Key": ("kms/key.go", frozenset({
        "customKeyStoreId", "customerMasterKeySpec", "keyUsage", "multiRegion", "xksKeyId"})),
    "aws:kms/keyPolicy:KeyPolicy": ("kms/key_policy.go", frozenset({"keyId"})),
    "aws:rolesanywhere/profile:Profile": ("rolesanywhere/profile.go", frozenset()),
    "aws:rolesanywhere/trustAnchor:TrustAnchor": ("rolesanywhere/trust_anchor.go", frozenset()),
    "aws:route53/resolverEndpoint:ResolverEndpoint": ("route53resolver/endpoint.go", frozenset({
        "direction", "securityGroupIds"})),
    "aws:s3/bucket:Bucket": ("s3/bucket.go", frozenset({"bucket", "bucketPrefix", "objectLockEnabled"})),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": (
        "s3/bucket_lifecycle_configuration.go", frozenset({"bucket", "expectedBucketOwner"})),
    "aws:s3/bucketLogging:BucketLogging": ("s3/bucket_logging.go", frozenset({"bucket", "expectedBucketOwner"})),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": ("s3/bucket_ownership_controls.go", frozenset({
        "bucket"})),
    "aws:s3/bucketPolicy:BucketPolicy": ("s3/bucket_policy.go", frozenset({"bucket"})),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": ("s3/bucket_public_access_block.go", frozenset({
        "bucket"})),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "s3/bucket_server_side_encryption_configuration.go", frozenset({"bucket", "expectedBucketOwner"})),
    "aws:s3/bucketVersioning:BucketVersioning": ("s3/bucket_versioning.go", frozenset({
        "bucket", "expectedBucketOwner"})),
    "aws:sagemaker/domain:Domain": ("sagemaker/domain.go", frozenset({"authMode", "domainName", "kmsKeyId", "vpcId"})),
    "aws:sagemaker/modelPackageGroup:ModelPackageGroup": ("sagemaker/model_package_group.go", frozenset({
        "modelPackageGroupName"})),
    # no Update function: every input forces a new activation (a new id and code for every node)
    "aws:ssm/activation:Activation": ("ssm/activation.go", frozenset({
        "description", "expirationDate", "iamRole", "name", "registrationLimit", "tags"})),
}


def replacing(resource_type: str, changed: list[str]) -> list[str] | None:
    """The changed properties that force `resource_type` to be replaced; None when the table lacks the type."""
    entry = REPLACE_ON_CHANGE.get(resource_type)
    return None if entry is None else sorted(set(changed) & entry[1])
