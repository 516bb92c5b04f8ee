using System.Diagnostics;
using System.Globalization;

namespace Broker.Bench.Measure;

/// <summary>A reading of a process's CPU time and resident memory (Linux /proc) and of this generator's CPU time.</summary>
internal readonly record struct ProcessSample(long Timestamp, double BrokerCpuSeconds, long BrokerRssKb, double GeneratorCpuSeconds)
{
    public static double Seconds(ProcessSample from, ProcessSample to) =>
        (to.Timestamp - from.Timestamp) / (double)Stopwatch.Frequency;
}

/// <summary>
/// Reads the broker's utime + stime from <c>/proc/&lt;pid&gt;/stat</c> (clock ticks of USER_HZ = 100, which Linux
/// fixes for user space on every architecture) and VmRSS from <c>/proc/&lt;pid&gt;/status</c>; without a pid only
/// the generator's own CPU time is read.
/// </summary>
internal sealed class ProcessSampler(int? brokerPid)
{
    private const double UserHz = 100.0;

    public bool HasBroker => brokerPid is not null;

    public ProcessSample Take()
    {
        var generator = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
        if (brokerPid is not { } pid)
            return new ProcessSample(Stopwatch.GetTimestamp(), 0, 0, generator);
        return new ProcessSample(Stopwatch.GetTimestamp(), ReadCpuSeconds(pid), ReadRssKb(pid), generator);
    }

    /// <summary>Checks that the pid can be read, so a typo fails before the run rather than after it.</summary>
    public void Validate()
    {
        if (brokerPid is { } pid && !File.Exists($"/proc/{pid}/stat"))
            throw new Client.BenchException($"--broker-pid {pid}: no such process (/proc/{pid}/stat is missing)");
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
