// Package logging builds the process's logrus logger from config.
package logging

import (
	"fmt"
	"io"

	"github.com/sirupsen/logrus"
)

// New returns a logger writing to w at level ("trace".."fatal") in format
// ("text" or "json").
func New(w io.Writer, level, format string) (*logrus.Logger, error) {
	lvl, err := logrus.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("log.level: %q is not a level (trace, debug, info, warn, error, fatal)", level)
	}
	log := logrus.New()
	log.SetOutput(w)
	log.SetLevel(lvl)
	switch format {
	case "json":
		log.SetFormatter(&logrus.JSONFormatter{TimestampFormat: "2006-01-02T15:04:05.000Z07:00"})
	case "text", "":
		log.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, TimestampFormat: "2006-01-02T15:04:05.000Z07:00"})
	default:
		return nil, fmt.Errorf("log.format: %q is not a format (text, json)", format)
	}
	return log, nil
}
