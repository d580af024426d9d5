package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/coffer-dev/coffer/internal/restoretesting"
)

// restoreTestWord is the RESULT column of a restore test.
func restoreTestWord(r restoretesting.Result) string {
	switch {
	case !r.Job.Finished():
		return "running"
	case r.Passed():
		return "ok"
	}
	return "FAILED"
}

func writeRestoreTestsTable(w io.Writer, results []restoretesting.Result) error {
	if len(results) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nRESTORE TESTING PLAN\tRESOURCE\tLAST TEST\tJOB\tVALIDATION\tINSTANCE\tRESULT\tFAILED/TESTS")
	for _, r := range results {
		j := r.Job
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\n", r.PlanARN, r.ResourceARN, j.Created.Local().Format(time.DateTime), j.State,
			dash(j.ValidationStatus), dash(j.DeletionStatus), restoreTestWord(r), r.Failed, r.Tests)
	}
	return tw.Flush()
}

func writeRestoreTestsJSON(w io.Writer, results []restoretesting.Result) error {
	enc := json.NewEncoder(w)
	for _, r := range results {
		j := r.Job
		out := struct {
			RestoreTestingPlanArn, ResourceArn, RestoreJobId, Status, Result string
			StatusMessage, ValidationStatus, ValidationStatusMessage         string `json:",omitempty"`
			DeletionStatus, CreatedResourceArn                               string `json:",omitempty"`
			CreationDate                                                     time.Time
			Tests, Failed                                                    int
		}{r.PlanARN, r.ResourceARN, j.ID, j.State, restoreTestWord(r), j.StatusMessage, j.ValidationStatus, j.ValidationMessage,
			j.DeletionStatus, j.CreatedResourceARN, j.Created, r.Tests, r.Failed}
		if err := enc.Encode(out); err != nil {
			return err
		}
	}
	return nil
}
