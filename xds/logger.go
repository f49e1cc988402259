package xds

import (
	"context"
	"fmt"
	"log/slog"

	gcplog "github.com/envoyproxy/go-control-plane/pkg/log"
)

// slogAdapter feeds go-control-plane's printf-style logs into slog. Its
// info logs (one per watch opened) are per-request noise at fleet scale,
// so they go out at debug level.
type slogAdapter struct{ l *slog.Logger }

var _ gcplog.Logger = slogAdapter{}

func (a slogAdapter) emit(level slog.Level, format string, args []any) {
	ctx := context.Background()
	if !a.l.Enabled(ctx, level) {
		return
	}
	a.l.Log(ctx, level, fmt.Sprintf(format, args...), "component", "go-control-plane")
}

func (a slogAdapter) Debugf(format string, args ...any) { a.emit(slog.LevelDebug, format, args) }
func (a slogAdapter) Infof(format string, args ...any)  { a.emit(slog.LevelDebug, format, args) }
func (a slogAdapter) Warnf(format string, args ...any)  { a.emit(slog.LevelWarn, format, args) }
func (a slogAdapter) Errorf(format string, args ...any) { a.emit(slog.LevelError, format, args) }
