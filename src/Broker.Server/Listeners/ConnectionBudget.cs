using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Broker.Server.Listeners;

/// <summary>
/// The connections every listener together may hold, from the process's file descriptor limit: each connection is a
/// descriptor, and so is every file, timer, plugin backend connection and thread the runtime opens. When a herd of
/// connections used them all, the runtime itself failed to get one and ended the process ("Out of memory.", exit 134),
/// dropping every client (issue 17). So the soft limit is raised to the hard one where allowed, and connections stop
/// at the limit minus a reserve; beyond it a connection is accepted and closed at once, as over a listener's
/// <c>max_connections</c>.
/// </summary>
internal sealed partial class ConnectionBudget
{
    private readonly long _max;
    private long _used;

    private ConnectionBudget(long max) => _max = max;

    /// <summary>Connections allowed across every listener.</summary>
    public long Max => _max;

    /// <summary>Takes one connection's share; false when the budget is spent.</summary>
    public bool TryTake()
    {
        if (Interlocked.Increment(ref _used) <= _max)
            return true;
        Interlocked.Decrement(ref _used);
        return false;
    }

    /// <summary>A connection taken with <see cref="TryTake"/> has closed its socket.</summary>
    public void Return() => Interlocked.Decrement(ref _used);

    /// <summary>
    /// Reads (and raises) the descriptor limit and logs the budget it allows; <paramref name="reserve"/> is
    /// <c>listener.fd_reserve</c>, 0 for the default.
    /// </summary>
    public static ConnectionBudget FromFileDescriptorLimit(ILogger logger, int reserve = 0)
    {
        if (!OperatingSystem.IsLinux() || !TryRaiseLimit(out var before, out var limit))
            return new ConnectionBudget(long.MaxValue);
        // Already open: the runtime keeps every assembly file open (about 180 at start). Kept besides: what opens
        // later (assemblies loaded on first use, plugins' files and backend connections, log files, sockets accepted
        // only to be closed): by default a tenth of the limit, at least 128; an operator who knows what the process
        // opens may set it (listener.fd_reserve).
        var open = Directory.GetFileSystemEntries("/proc/self/fd").Length;
        long kept = reserve > 0 ? reserve : Math.Max(128, limit / 10);
        var budget = new ConnectionBudget(Math.Max(1, limit - open - kept));
        LogBudget(logger, limit, before, budget.Max, open, kept);
        return budget;
    }

    private static bool TryRaiseLimit(out long before, out long limit)
    {
        before = limit = 0;
        RLimit current;
        try
        {
            if (getrlimit(RlimitNofile, out current) != 0)
                return false;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return false; // no budget rather than no broker
        }
        before = (long)current.Current;
        if (current.Current < current.Max)
        {
            var raised = current with { Current = current.Max };
            if (setrlimit(RlimitNofile, raised) == 0)
                current = raised;
        }
        limit = (long)Math.Min(current.Current, (ulong)int.MaxValue);
        return true;
    }

    private const int RlimitNofile = 7; // RLIMIT_NOFILE on Linux

    [StructLayout(LayoutKind.Sequential)]
    private record struct RLimit(ulong Current, ulong Max);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int getrlimit(int resource, out RLimit limit);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setrlimit(int resource, in RLimit limit);

    [LoggerMessage(EventId = 220, Level = LogLevel.Information, Message = "File descriptors: limit {Limit} (was {Before}), {Open} open; all listeners together accept at most {Max} connections, keeping {Reserve} for files, plugins and backends")]
    private static partial void LogBudget(ILogger logger, long limit, long before, long max, long open, long reserve);
}
