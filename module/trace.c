// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror tracepoints: the one place their code is generated. The
 * events are described in dmirror_trace.h; with tracing off in the kernel
 * they compile to nothing.
 */
#define CREATE_TRACE_POINTS
#include "dmirror_trace.h"
