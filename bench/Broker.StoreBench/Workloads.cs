using System.Diagnostics;

namespace Broker.StoreBench;

internal sealed record AppendOptions(string Mode, int Writers, int ValueSize, TimeSpan Duration);

/// <summary>The broker's access pattern, run against one engine in a fresh directory each time.</summary>
internal static class Workloads
{
    /// <summary>Messages a periodic-mode appender may leave in the open batch before it waits for a commit.</summary>
    private const int PeriodicBacklog = 20_000;
    private const int AckLag = 10_000;
    private const int SessionsPerWriter = 1000;
    private static readonly TimeSpan Warmup = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan PeriodicInterval = TimeSpan.FromMilliseconds(10);

    /// <summary>
    /// append+ack: writers append messages (each to one of its 1000 sessions in turn) while acks delete them after a
    /// lag. Periodic: commits every 10 ms, appenders do not wait. Sync: each appender waits for its batch's fsync.
    /// </summary>
    public static async Task AppendAckAsync(IMessageStore store, string directory, AppendOptions options, Result result)
    {
        var sync = options.Mode == "sync";
        var records = new Records(options.ValueSize);
        using var committer = new GroupCommitter(store, sync ? null : PeriodicInterval, AckLag);
        var latencies = new List<long>[options.Writers];
        var measuring = false;
        var stop = false;

        async Task WriteAsync(int writer)
        {
            var mine = latencies[writer] = [];
            await Task.Yield();
            for (long n = 0; !Volatile.Read(ref stop); n++)
            {
                var session = writer * SessionsPerWriter + n % SessionsPerWriter;
                var op = StoreOp.Put(Records.MessageKey(session, n / SessionsPerWriter), records.MessageValue(n));
                var start = Stopwatch.GetTimestamp();
                var durable = committer.Append(op, out var open);
                if (sync)
                {
                    await durable.ConfigureAwait(false);
                    if (Volatile.Read(ref measuring))
                    {
                        mine.Add(Stopwatch.GetTimestamp() - start);
                    }
                }
                else if (open >= PeriodicBacklog)
                {
                    await durable.ConfigureAwait(false);
                }
            }
        }

        var writers = new Task[options.Writers];
        for (var i = 0; i < writers.Length; i++)
        {
            writers[i] = WriteAsync(i);
        }
        await Task.Delay(Warmup).ConfigureAwait(false);

        var process = Process.GetCurrentProcess();
        process.Refresh();
        var cpu0 = process.TotalProcessorTime;
        var (count0, batches0, t0) = (committer.Committed, committer.Batches, Stopwatch.GetTimestamp());
        Volatile.Write(ref measuring, true);
        var samples = new List<long>();
        var end = t0 + (long)(options.Duration.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < end && !AnyFaulted(writers))
        {
            await Task.Delay(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
            samples.Add(Engines.SizeOnDisk(directory));
        }
        var (count1, batches1, seconds) = (committer.Committed, committer.Batches, Stopwatch.GetElapsedTime(t0).TotalSeconds);
        process.Refresh();
        var cpu = process.TotalProcessorTime - cpu0;
        Volatile.Write(ref measuring, false);
        Volatile.Write(ref stop, true);
        await Task.WhenAll(writers).ConfigureAwait(false);

        var messages = count1 - count0;
        result.Seconds = Math.Round(seconds, 2);
        result.Messages = messages;
        result.MessagesPerSecond = Math.Round(messages / seconds);
        result.CpuMicrosPerMessage = Math.Round(cpu.TotalMicroseconds / messages, 2);
        result.MeanBatch = Math.Round((double)messages / Math.Max(1, batches1 - batches0), 1);
        result.SizeSamples = samples;
        result.SizeEnd = samples[^1];
        result.SizeMax = samples.Max();
        if (sync)
        {
            var all = latencies.SelectMany(l => l).Order().ToArray();
            result.CommitP50Micros = Percentile(all, 0.50);
            result.CommitP99Micros = Percentile(all, 0.99);
        }
    }

    /// <summary>
    /// resume: 100k sessions × 10 queued messages (plus the session records) are written, the store is closed and
    /// reopened and everything is scanned back, as a restart does; then 90% of the messages are acked (deleted) and the
    /// store compacted.
    /// </summary>
    public static void Resume(string engine, string directory, int sessions, Result result)
    {
        const int perSession = 10;
        const int batchSize = 10_000;
        var records = new Records(0);
        var batch = new List<StoreOp>(batchSize + perSession + 1);
        var watch = Stopwatch.StartNew();
        using (var store = Engines.Open(engine, directory))
        {
            for (var s = 0; s < sessions; s++)
            {
                batch.Add(StoreOp.Put(Records.SessionKey(s), Records.SessionValue(s)));
                for (var q = 0; q < perSession; q++)
                {
                    batch.Add(StoreOp.Put(Records.MessageKey(s, q), records.MessageValue(s * perSession + q)));
                }
                FlushIfFull(store, batch, batchSize);
            }
            FlushIfFull(store, batch, 0);
        }
        result.LoadSeconds = Math.Round(watch.Elapsed.TotalSeconds, 2);
        result.SizeLoaded = Engines.SizeOnDisk(directory);

        watch.Restart();
        var reopened = Engines.Open(engine, directory);
        try
        {
            result.OpenMillis = Math.Round(watch.Elapsed.TotalMilliseconds, 1);
            watch.Restart();
            long bytes = 0;
            // Touch every record, as a restart that rebuilds its queues would.
            result.Records = reopened.Scan((key, value) => bytes += key.Length + value.Length);
            result.ScanMillis = Math.Round(watch.Elapsed.TotalMilliseconds, 1);

            for (var s = 0; s < sessions; s++)
            {
                for (var q = 0; q < perSession - 1; q++)
                {
                    batch.Add(StoreOp.Delete(Records.MessageKey(s, q)));
                }
                FlushIfFull(reopened, batch, batchSize);
            }
            FlushIfFull(reopened, batch, 0);
            result.SizeAfterDelete = Engines.SizeOnDisk(directory);
            watch.Restart();
            reopened.Compact();
            result.CompactMillis = Math.Round(watch.Elapsed.TotalMilliseconds, 1);
        }
        finally
        {
            // Measured after close, so that what an engine finishes in the background or at close is counted.
            reopened.Dispose();
        }
        result.SizeAfterCompact = Engines.SizeOnDisk(directory);
    }

    private static void FlushIfFull(IMessageStore store, List<StoreOp> batch, int threshold)
    {
        if (batch.Count > threshold)
        {
            store.Commit(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(batch));
            batch.Clear();
        }
    }

    private static bool AnyFaulted(Task[] tasks) => tasks.Any(t => t.IsFaulted);

    private static double? Percentile(long[] sorted, double p) =>
        sorted.Length == 0 ? null : Math.Round(sorted[(int)Math.Min(sorted.Length - 1, p * sorted.Length)] * 1e6 / Stopwatch.Frequency, 1);
}
