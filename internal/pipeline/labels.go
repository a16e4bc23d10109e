package pipeline

import (
	"context"
	"runtime/pprof"
)

// labelStage labels the calling goroutine's CPU profile samples with the
// stage of the pipeline it runs ("stage": dispatch, work, order,
// evaluate), so that a profile of a scan says how much CPU each stage
// took (`go tool pprof -tagfocus stage=evaluate`, or -tags): the ordered
// and evaluating stages run one goroutine each and bound what more cores
// can gain. Goroutines a stage starts inherit its label.
func labelStage(ctx context.Context, stage string) {
	pprof.SetGoroutineLabels(pprof.WithLabels(ctx, pprof.Labels("stage", stage)))
}
