package plans

import (
	"testing"

	"github.com/coffer-dev/coffer/internal/awserr"
)

func TestSelectionMatches(t *testing.T) {
	db := func(name string, tags map[string]string) Resource {
		return Resource{ARN: "arn:aws:rds:us-east-1:111222333444:db:" + name, Tags: tags}
	}
	orders := db("orders", map[string]string{"backup": "daily", "owner": "team-a"})
	users := db("users", map[string]string{"backup": "weekly", "owner": "team-b"})
	scratch := db("scratch", nil)
	cond := func(c Conditions) *Conditions { return &c }
	kv := func(k, v string) []ConditionParameter { return []ConditionParameter{{"aws:ResourceTag/" + k, v}} }
	tests := []struct {
		name string
		sel  Selection
		want []Resource
		not  []Resource
	}{
		{"nothing given selects everything", Selection{}, []Resource{orders, users, scratch}, nil},
		{"star", Selection{Resources: []string{"*"}}, []Resource{orders, users, scratch}, nil},
		{"one ARN", Selection{Resources: []string{orders.ARN}}, []Resource{orders}, []Resource{users, scratch}},
		{"ARN wildcard", Selection{Resources: []string{"arn:aws:rds:*:*:db:*s"}}, []Resource{orders, users}, []Resource{scratch}},
		{"question mark", Selection{Resources: []string{"arn:aws:rds:us-east-1:111222333444:db:user?"}}, []Resource{users}, []Resource{orders}},
		{"NotResources", Selection{Resources: []string{"*"}, NotResources: []string{users.ARN}}, []Resource{orders, scratch}, []Resource{users}},
		{"Resources AND Conditions", Selection{Resources: []string{"*"}, Conditions: cond(Conditions{StringEquals: kv("backup", "daily")})}, []Resource{orders}, []Resource{users, scratch}},
		{"Conditions alone", Selection{Conditions: cond(Conditions{StringLike: kv("owner", "team-*")})}, []Resource{orders, users}, []Resource{scratch}},
		{"StringNotEquals", Selection{Conditions: cond(Conditions{StringNotEquals: kv("backup", "daily")})}, []Resource{users, scratch}, []Resource{orders}},
		{"StringNotLike", Selection{Conditions: cond(Conditions{StringNotLike: kv("owner", "*-b")})}, []Resource{orders, scratch}, []Resource{users}},
		{"conditions are ANDed", Selection{Conditions: cond(Conditions{StringEquals: kv("owner", "team-a"), StringLike: kv("backup", "week*")})}, nil, []Resource{orders, users, scratch}},
		{"ListOfTags ORs with Resources", Selection{Resources: []string{scratch.ARN}, ListOfTags: []TagCondition{{"STRINGEQUALS", "backup", "weekly"}}}, []Resource{scratch, users}, []Resource{orders}},
		{"ListOfTags alone", Selection{ListOfTags: []TagCondition{{"STRINGEQUALS", "aws:ResourceTag/backup", "daily"}, {"STRINGEQUALS", "owner", "team-b"}}}, []Resource{orders, users}, []Resource{scratch}},
		{"NotResources beats ListOfTags", Selection{ListOfTags: []TagCondition{{"STRINGEQUALS", "backup", "daily"}}, NotResources: []string{"arn:aws:rds:*:*:db:ord*"}}, nil, []Resource{orders}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range tt.want {
				if !tt.sel.Matches(r) {
					t.Errorf("%s not selected", r.ARN)
				}
			}
			for _, r := range tt.not {
				if tt.sel.Matches(r) {
					t.Errorf("%s selected", r.ARN)
				}
			}
		})
	}
}

func TestSelectionValidate(t *testing.T) {
	sc := scope{Account: "111222333444", Region: "us-east-1"}
	ok := func(s Selection) Selection {
		s.SelectionName, s.IamRoleArn = "sel", "arn:aws:iam::111222333444:role/r"
		return s
	}
	tests := []struct {
		name string
		sel  Selection
		code string
	}{
		{"valid", ok(Selection{Resources: []string{"arn:aws:rds:us-east-1:111222333444:db:*"}}), ""},
		{"valid wildcard service", ok(Selection{Resources: []string{"arn:aws:*:*:*:*"}}), ""},
		{"no name", Selection{IamRoleArn: "arn:aws:iam::111222333444:role/r"}, "MissingParameterValueException"},
		{"bad name", Selection{SelectionName: "a b", IamRoleArn: "x"}, "InvalidParameterValueException"},
		{"no role", Selection{SelectionName: "s"}, "MissingParameterValueException"},
		{"not an ARN", ok(Selection{Resources: []string{"orders"}}), "InvalidParameterValueException"},
		{"EBS volumes select nothing", ok(Selection{Resources: []string{"arn:aws:ec2:*:*:volume/*"}}), "InvalidParameterValueException"},
		{"another account selects nothing", ok(Selection{Resources: []string{"arn:aws:rds:us-east-1:666777888999:db:orders"}}), "InvalidParameterValueException"},
		{"another region selects nothing", ok(Selection{Resources: []string{"arn:aws:rds:eu-west-1:111222333444:db:orders"}}), "InvalidParameterValueException"},
		{"condition key without prefix", ok(Selection{Conditions: &Conditions{StringEquals: []ConditionParameter{{"backup", "daily"}}}}), "InvalidParameterValueException"},
		{"ListOfTags type", ok(Selection{ListOfTags: []TagCondition{{"STRINGLIKE", "backup", "d*"}}}), "InvalidParameterValueException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.sel.validate(sc)
			if tt.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || codeOf(err) != tt.code {
				t.Fatalf("err = %v, want %s", err, tt.code)
			}
		})
	}
}

func codeOf(err error) string { return awserr.As(err).Code }
