// Package seedtest holds the probe responses shown in the seed documents
// (Dynamo, the /healthz+/readyz engine, NativeLink, AMSDAL) and a real TCP
// server that replays them byte for byte, for tests of the prober and the
// dialects.
package seedtest
