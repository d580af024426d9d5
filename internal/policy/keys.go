package policy

import "sort"

// Global condition keys (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html).
// Keys are matched case-insensitively; these are AWS's spellings. The keys
// marked "derived" are filled in by Evaluate from Request.Principal and
// Request.Now when the caller's Context does not set them.
const (
	KeyPrincipalOrgID          = "aws:PrincipalOrgID"             // derived from Principal.OrgID
	KeyPrincipalOrgPaths       = "aws:PrincipalOrgPaths"          // derived; multivalued
	KeyPrincipalAccount        = "aws:PrincipalAccount"           // derived
	KeyPrincipalArn            = "aws:PrincipalArn"               // derived; the role ARN for role sessions
	KeyPrincipalType           = "aws:PrincipalType"              // derived: Account, User, AssumedRole, Anonymous
	KeyUserID                  = "aws:userid"                     // derived
	KeyUsername                = "aws:username"                   // derived, IAM users only
	KeyPrincipalIsAWSService   = "aws:PrincipalIsAWSService"      // derived
	KeyPrincipalServiceName    = "aws:PrincipalServiceName"       // derived
	KeySourceAccount           = "aws:SourceAccount"              // set by a service acting for a resource
	KeySourceArn               = "aws:SourceArn"                  // set by a service acting for a resource
	KeyCalledVia               = "aws:CalledVia"                  // multivalued
	KeyCalledViaFirst          = "aws:CalledViaFirst"             //
	KeyCalledViaLast           = "aws:CalledViaLast"              //
	KeyViaAWSService           = "aws:ViaAWSService"              //
	KeyCurrentTime             = "aws:CurrentTime"                // derived from Request.Now
	KeyEpochTime               = "aws:EpochTime"                  // derived from Request.Now
	KeySecureTransport         = "aws:SecureTransport"            //
	KeySourceIP                = "aws:SourceIp"                   //
	KeyRequestedRegion         = "aws:RequestedRegion"            //
	KeyTagKeys                 = "aws:TagKeys"                    // multivalued
	KeyMultiFactorAuthPresent  = "aws:MultiFactorAuthPresent"     //
	KeyResourceAccount         = "aws:ResourceAccount"            // derived from Request.ResourceAccount or the resource ARN
	KeyResourceOrgID           = "aws:ResourceOrgID"              //
	KeyPrincipalTagPrefix      = "aws:PrincipalTag/"              // + tag key; derived from Principal.Tags
	KeyResourceTagPrefix       = "aws:ResourceTag/"               // + tag key
	KeyRequestTagPrefix        = "aws:RequestTag/"                // + tag key
	KeyKMSViaService           = "kms:ViaService"                 // service keys: just more context keys
	KeyKMSCallerAccount        = "kms:CallerAccount"              //
	KeyKMSEncryptionContextPfx = "kms:EncryptionContext:"         // + context key
	KeyKMSEncryptionContextKey = "kms:EncryptionContextKeys"      // multivalued
	KeyKMSGrantIsForAWSRes     = "kms:GrantIsForAWSResource"      //
	KeyBackupCopyTargets       = "backup:CopyTargets"             // multivalued
	KeyBackupCopyTargetOrgPath = "backup:CopyTargetOrgPaths"      // multivalued
	KeySTSExternalID           = "sts:ExternalId"                 //
	KeySTSRoleSessionName      = "sts:RoleSessionName"            //
	KeySTSSourceIdentity       = "sts:SourceIdentity"             //
	KeySTSTransitiveTagKeys    = "sts:TransitiveTagKeys"          // multivalued
	KeyIAMPassedToService      = "iam:PassedToService"            //
	KeyIAMPermissionsBoundary  = "iam:PermissionsBoundary"        //
	KeyOrganizationsPolicyType = "organizations:PolicyType"       //
	KeyOrganizationsService    = "organizations:ServicePrincipal" //
)

// RequestTagContext is the condition context of a request that sets
// tags: aws:RequestTag/KEY for each tag and aws:TagKeys, nil without tags.
func RequestTagContext(tags map[string]string) map[string][]string {
	if len(tags) == 0 {
		return nil
	}
	ctx := make(map[string][]string, len(tags)+1)
	keys := make([]string, 0, len(tags))
	for k, v := range tags {
		ctx[KeyRequestTagPrefix+k] = []string{v}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	ctx[KeyTagKeys] = keys
	return ctx
}
