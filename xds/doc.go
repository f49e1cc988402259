// Package xds publishes vigil's membership to Envoy and to proxyless gRPC
// clients over the xDS protocol (ADS state of the world and delta, plus the
// standalone CDS and EDS services), built on go-control-plane.
//
// Every vigil cluster becomes a Cluster (EDS over ADS) and a
// ClusterLoadAssignment whose endpoints carry each instance's published
// health status; with Options.GRPCListeners it also becomes a Listener with
// an ApiListener and a RouteConfiguration, so `xds:///<cluster>` resolves in
// gRPC. All nodes share one view. Endpoints live in their own linear cache so
// one instance's change re-sends only its cluster's assignment. A stream
// that rejects a response (NACK) gets nothing more of that type until the
// content it watches changes. With Options.HoldUntil, requests wait
// unanswered until every instance has a verdict, so a client reconnecting
// to a vigil that just started never sees initial statuses.
package xds
