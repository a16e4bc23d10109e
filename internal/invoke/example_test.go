package invoke_test

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/azdetect/azdetect/internal/invoke"
	"github.com/azdetect/azdetect/internal/pipeline"
)

// buildPipeline stands for the slow part of start-up (rules, clients).
func buildPipeline() (*pipeline.Pipeline, error) { return nil, nil }

// Listen first so that the host's GET / polls succeed, build the pipeline,
// then Attach it: invocations that arrive meanwhile wait.
func ExampleServer() {
	log := zerolog.New(os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	srv, err := invoke.NewServer(invoke.ServerOptions{
		Addr:         "127.0.0.1:" + os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT"),
		FunctionsDir: "functions",
		Logger:       log,
	})
	if err != nil {
		log.Fatal().Err(err).Msg("bad server options")
	}
	if _, err := srv.Listen(); err != nil {
		log.Fatal().Err(err).Msg("listen")
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()

	p, err := buildPipeline()
	if err != nil {
		log.Fatal().Err(err).Msg("build pipeline")
	}
	srv.Attach(p, nil) // no Maintainer: the timer answers with a log line
	if err := <-done; err != nil {
		log.Error().Err(err).Msg("serve")
	}
}
