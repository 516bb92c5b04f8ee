using System.Diagnostics;
using System.Globalization;
using Broker.Bench.Report;

namespace Broker.Bench.Measure;

/// <summary>
/// A reading of the broker processes' CPU time and resident memory (Linux /proc), summed over them and per process
/// (<see cref="PerPidCpuSeconds"/>, <see cref="PerPidRssKb"/>, in the order of --broker-pid), and of this generator's
/// CPU time.
/// </summary>
internal readonly record struct ProcessSample(long Timestamp, double BrokerCpuSeconds, long BrokerRssKb, double GeneratorCpuSeconds,
    double[]? PerPidCpuSeconds = null, long[]? PerPidRssKb = null)
{
    public static double Seconds(ProcessSample from, ProcessSample to) =>
        (to.Timestamp - from.Timestamp) / (double)Stopwatch.Frequency;
}

/// <summary>
/// Reads each broker process's utime + stime from <c>/proc/&lt;pid&gt;/stat</c> (clock ticks of USER_HZ = 100, which
/// Linux fixes for user space on every architecture) and VmRSS from <c>/proc/&lt;pid&gt;/status</c>, and sums them (the
/// nodes of a cluster, or a broker and its NATS server); without a pid only the generator's own CPU time is read.
/// </summary>
internal sealed class ProcessSampler(IReadOnlyList<int> brokerPids)
{
    private const double UserHz = 100.0;

    public bool HasBroker => brokerPids.Count > 0;

    public IReadOnlyList<int> Pids => brokerPids;

    public ProcessSample Take()
    {
        var generator = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
        if (brokerPids.Count == 0)
            return new ProcessSample(Stopwatch.GetTimestamp(), 0, 0, generator);
        var cpu = new double[brokerPids.Count];
        var rss = new long[brokerPids.Count];
        for (var i = 0; i < brokerPids.Count; i++)
        {
            cpu[i] = ReadCpuSeconds(brokerPids[i]);
            rss[i] = ReadRssKb(brokerPids[i]);
        }
        return new ProcessSample(Stopwatch.GetTimestamp(), cpu.Sum(), rss.Sum(), generator, cpu, rss);
    }

    /// <summary>Checks that every pid can be read, so a typo fails before the run rather than after it.</summary>
    public void Validate()
    {
        foreach (var pid in brokerPids)
        {
            if (!File.Exists($"/proc/{pid}/stat"))
                throw new Client.BenchException($"--broker-pid {pid}: no such process (/proc/{pid}/stat is missing)");
        }
    }

    /// <summary>
    /// Per process, what it did between <paramref name="before"/> and <paramref name="after"/> (null with fewer than
    /// two pids: the report's totals are that one process). <paramref name="rssFrom"/>: the sample RSS grew from
    /// (conn: before the first connect); default <paramref name="before"/>.
    /// </summary>
    public List<ProcessReport>? PerProcess(ProcessSample before, ProcessSample after, ProcessSample? rssFrom = null)
    {
        if (brokerPids.Count < 2 || before.PerPidCpuSeconds is null || after.PerPidCpuSeconds is null)
            return null;
        var window = ProcessSample.Seconds(before, after);
        var start = rssFrom ?? before;
        var list = new List<ProcessReport>(brokerPids.Count);
        for (var i = 0; i < brokerPids.Count; i++)
        {
            var cpu = after.PerPidCpuSeconds[i] - before.PerPidCpuSeconds[i];
            list.Add(new ProcessReport
            {
                Pid = brokerPids[i],
                CpuSeconds = Math.Round(cpu, 2),
                CpuPercent = Math.Round(window > 0 ? cpu / window * 100 : 0, 1),
                RssStartKb = start.PerPidRssKb?[i] ?? 0,
                RssEndKb = after.PerPidRssKb?[i] ?? 0,
            });
        }
        return list;
    }

    /// <summary>
    /// Writes the broker processes' CPU over <paramref name="before"/>..<paramref name="after"/> (summed, and per process
    /// when there are several) and their RSS at <paramref name="rssFrom"/> (default <paramref name="before"/>) and at
    /// the end into <paramref name="report"/>; returns the summed CPU seconds. Nothing without a pid.
    /// </summary>
    public double Fill(BenchReport report, ProcessSample before, ProcessSample after, ProcessSample? rssFrom = null)
    {
        if (!HasBroker)
            return 0;
        var window = ProcessSample.Seconds(before, after);
        var cpu = after.BrokerCpuSeconds - before.BrokerCpuSeconds;
        report.BrokerPid = brokerPids[0];
        report.BrokerPids = brokerPids.Count > 1 ? [.. brokerPids] : null;
        report.BrokerProcesses = PerProcess(before, after, rssFrom);
        report.BrokerCpuSeconds = Math.Round(cpu, 2);
        report.BrokerCpuPercent = Math.Round(window > 0 ? cpu / window * 100 : 0, 1);
        report.BrokerRssStartKb = (rssFrom ?? before).BrokerRssKb;
        report.BrokerRssEndKb = after.BrokerRssKb;
        return cpu;
    }

    internal static double ReadCpuSeconds(int pid)
    {
        // The command name (field 2) is in parentheses and may hold spaces: fields are counted after the last ')'.
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // fields[0] is field 3 (state); utime is field 14, stime field 15.
        var utime = long.Parse(fields[11], CultureInfo.InvariantCulture);
        var stime = long.Parse(fields[12], CultureInfo.InvariantCulture);
        return (utime + stime) / UserHz;
    }

    internal static long ReadRssKb(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        }
        return 0;
    }
}
