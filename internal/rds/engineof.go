package rds

import "github.com/coffer-dev/coffer/internal/engine"

// Engine returns the engine adapter of an engine name, for the restore
// jobs that fill an instance CreateRestoredInstance made.
func (s *Service) Engine(name string) (engine.Engine, bool) {
	e, ok := s.engines[name]
	return e, ok
}
