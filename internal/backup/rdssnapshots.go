package backup

import (
	"context"
	"fmt"
)

// RDSRecoveryPoints lists the completed recovery points of RDS instances
// in the account and region, of one instance when instanceARN is set,
// newest first. It does not authorize: RDS's DescribeDBSnapshots, which
// lists them as awsbackup snapshots, does.
func (s *Service) RDSRecoveryPoints(ctx context.Context, account, region, instanceARN string) ([]*RecoveryPoint, error) {
	q := `SELECT ` + rpColumns + ` FROM backup_recovery_points WHERE account_id = ? AND region = ? AND resource_type = 'RDS' AND status = ?`
	args := []any{account, region, RPCompleted}
	if instanceARN != "" {
		q, args = q+` AND resource_arn = ?`, append(args, instanceARN)
	}
	rows, err := s.store.QueryContext(ctx, q+` ORDER BY creation_date DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("list RDS recovery points: %w", err)
	}
	defer rows.Close()
	var out []*RecoveryPoint
	for rows.Next() {
		rp, err := scanRP(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, rp)
	}
	return out, rows.Err()
}
