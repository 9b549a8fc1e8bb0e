// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Test stand-in for Calico felix's tc entry program: tc_drop named as felix names its program
 * (felix/bpf-gpl/tc_preamble.c cali_tc_preamble; the kernel keeps "cali_tc_preambl"), dropping IPv4 UDP to
 * port 8885 (TC_ACT_SHOT) as a Calico policy denying it would. Pinned by the tests where felix pins its
 * attachments, and attached with tc.
 */
#define TC_DROP_NAME cali_tc_preamble
#include "tc_drop.bpf.c"
