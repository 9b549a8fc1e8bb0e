using Tracer.Attribution;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Attribution.Owners;

/// <summary>
/// /proc/PID/fdinfo/FD as the kernel writes it (kernel/bpf/syscall.c: bpf_prog_show_fdinfo, bpf_link_show_fdinfo,
/// bpf_map_show_fdinfo), read on this machine's 6.18 and from 5.10's source.
/// </summary>
[UnitTest]
public sealed class BpfFdInfoTests
{
    private const string Common = "pos:\t0\nflags:\t02000002\nmnt_id:\t17\nino:\t1038\n";

    [Fact]
    public void AProgramDescriptorNamesItsProgram()
    {
        var info = BpfFdInfo.Parse(Common + "prog_type:\t32\nprog_jited:\t1\nprog_tag:\t37a27c48b736cd37\nmemlock:\t4096\nprog_id:\t8911\n" +
                                   "run_time_ns:\t0\nrun_cnt:\t0\nrecursion_misses:\t0\nverified_insns:\t62\n");

        Assert.Equal(new BpfFdInfo(8911, null, null), info);
        Assert.Equal("prog_id 8911", info!.ToString());
    }

    [Fact]
    public void A510ProgramDescriptorNamesItsProgram() =>
        Assert.Equal(8911u, BpfFdInfo.Parse(Common + "prog_type:\t3\nprog_jited:\t1\nprog_tag:\t37a27c48b736cd37\nmemlock:\t4096\nprog_id:\t8911\n" +
                                                "run_time_ns:\t0\nrun_cnt:\t0\n")?.ProgramId);

    [Fact]
    public void ALinkDescriptorNamesItsLinkAndProgram_WithTheLinksOwnLineAfter()
    {
        // 6.18, a netfilter link: its show_fdinfo writes one line of tab-separated fields.
        var info = BpfFdInfo.Parse(Common + "link_type:\tnetfilter\nlink_id:\t4016\nprog_tag:\t37a27c48b736cd37\nprog_id:\t8911\npf:\t2\thooknum:\t3\tprio:\t-75\n");

        Assert.Equal(new BpfFdInfo(8911, 4016, "netfilter"), info);
        Assert.Equal("link_id 4016 (netfilter), prog_id 8911", info!.ToString());
    }

    [Fact]
    public void A510CgroupLinkNamesItsProgram() =>
        // 5.10 writes link_type, link_id, prog_tag and prog_id in one go, then the cgroup link's fields.
        Assert.Equal(new BpfFdInfo(27, 3, "cgroup"),
                     BpfFdInfo.Parse(Common + "link_type:\tcgroup\nlink_id:\t3\nprog_tag:\t6deef7357e7b4530\nprog_id:\t27\ncgroup_id:\t1\nattach_type:\t1\n"));

    [Theory]
    // a map: no program
    [InlineData(Common + "map_type:\t2\nkey_size:\t4\nvalue_size:\t2\nmax_entries:\t1\nmap_flags:\t0x480\nmap_extra:\t0x0\nmemlock:\t8192\nmap_id:\t19045\nfrozen:\t1\n")]
    // a program array map: its owner's type, not a program id
    [InlineData(Common + "map_type:\t3\nkey_size:\t4\nvalue_size:\t4\nmax_entries:\t8\nmap_flags:\t0x0\nmemlock:\t4096\nmap_id:\t7\nfrozen:\t0\nowner_prog_type:\t3\nowner_jited:\t1\n")]
    // BTF
    [InlineData(Common + "btf_id:\t8139\n")]
    // a struct_ops link (6.4+): no program
    [InlineData(Common + "link_type:\tstruct_ops\nlink_id:\t9\nmap_id:\t12\n")]
    // a plain file, and a file whose contents merely look alike
    [InlineData("pos:\t14\nflags:\t0100001\nmnt_id:\t27\nino:\t11657318\n")]
    [InlineData("prog_id:\t5\n")]
    public void WhatHoldsNoProgramIsNotClaimed(string fdinfo) => Assert.Null(BpfFdInfo.Parse(fdinfo));
}
