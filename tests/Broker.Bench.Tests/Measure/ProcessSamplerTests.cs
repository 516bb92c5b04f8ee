using Broker.Bench.Measure;
using Broker.Bench.Report;

namespace Broker.Bench.Tests.Measure;

public sealed class ProcessSamplerTests
{
    [Fact]
    public void Take_SeveralPids_SumsAndKeepsEach()
    {
        var self = Environment.ProcessId;
        var sample = new ProcessSampler([self, self]).Take();
        Assert.NotNull(sample.PerPidRssKb);
        Assert.Equal(2, sample.PerPidRssKb.Length);
        Assert.Equal(sample.PerPidRssKb.Sum(), sample.BrokerRssKb);
        Assert.Equal(sample.PerPidCpuSeconds!.Sum(), sample.BrokerCpuSeconds, 6);
        Assert.True(sample.BrokerRssKb > 0);
    }

    [Fact]
    public void Fill_SeveralPids_TotalsAndEachProcess()
    {
        var sampler = new ProcessSampler([11, 22]);
        var before = new ProcessSample(0, 3.0, 300, 0, [1.0, 2.0], [100, 200]);
        var after = new ProcessSample(System.Diagnostics.Stopwatch.Frequency * 2, 5.0, 450, 0, [1.5, 3.5], [150, 300]);
        var report = new BenchReport();

        var cpu = sampler.Fill(report, before, after);

        Assert.Equal(2.0, cpu, 6);
        Assert.Equal(11, report.BrokerPid);
        Assert.Equal([11, 22], report.BrokerPids!);
        Assert.Equal(100.0, report.BrokerCpuPercent); // 2 s of CPU in 2 s
        Assert.Equal(300, report.BrokerRssStartKb);
        Assert.Equal(450, report.BrokerRssEndKb);
        var each = report.BrokerProcesses!;
        Assert.Equal([11, 22], each.Select(p => p.Pid));
        Assert.Equal([25.0, 75.0], each.Select(p => p.CpuPercent));
        Assert.Equal([150L, 300L], each.Select(p => p.RssEndKb));
    }

    [Fact]
    public void Fill_OnePid_NoPerProcessList()
    {
        var sampler = new ProcessSampler([11]);
        var report = new BenchReport();
        sampler.Fill(report, new ProcessSample(0, 1, 10, 0, [1], [10]), new ProcessSample(System.Diagnostics.Stopwatch.Frequency, 2, 20, 0, [2], [20]));
        Assert.Equal(11, report.BrokerPid);
        Assert.Null(report.BrokerPids);
        Assert.Null(report.BrokerProcesses);
        Assert.Equal(100.0, report.BrokerCpuPercent);
    }
}
