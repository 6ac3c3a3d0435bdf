package collector

import (
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/common/expfmt"
)

func TestX(t *testing.T) { _ = promslog.NewNopLogger; var _ dto.Metric; _ = expfmt.FmtText }
