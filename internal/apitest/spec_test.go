package apitest

import "testing"

func TestSpecLoads(t *testing.T) { Spec(t) }
