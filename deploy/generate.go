// Package deploy holds the Kubernetes manifests, the Dockerfile and their
// tests; its Go code only generates and checks the manifests.
package deploy

//go:generate go run ./cmd/gen
