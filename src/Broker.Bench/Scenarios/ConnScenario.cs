using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Broker.Bench.Client;
using Broker.Bench.Measure;
using Broker.Bench.Report;

namespace Broker.Bench.Scenarios;

/// <summary>
/// conn: opens <see cref="BenchSettings.Connections"/> MQTT connections at <see cref="BenchSettings.ConnectRate"/>
/// per second (paced like fixed-rate publishing), holds them idle for the duration, then closes them. Reports the
/// achieved connect rate, failures, the connections the broker dropped while idle and, with a broker pid, its
/// resident memory per connection: (RSS after connecting − RSS before) / connections, and its CPU while idle.
/// </summary>
/// <remarks>Each connection costs this process one file descriptor and ~1 KB of buffers; see bench/README.md for
/// the descriptor limits of both processes.</remarks>
internal sealed class ConnScenario(BenchSettings settings, TextWriter progress)
{
    private const int ReceiveBufferSize = 256;

    private readonly ConcurrentQueue<BenchConnection> _open = new();
    private int _connected;
    private int _failed;
    private string? _firstFailure;
    private long _lastConnectedAt;
    private readonly Measure.LatencyHistogram _connackLatency = new();

    public async Task<BenchReport> RunAsync(CancellationToken cancellationToken)
    {
        var sampler = new ProcessSampler(settings.BrokerPids);
        sampler.Validate();
        var endpoint = await settings.ResolveAsync(cancellationToken).ConfigureAwait(false);
        var runId = RandomNumberGenerator.GetHexString(8, lowercase: true);
        var baseline = sampler.Take();
        var start = Stopwatch.GetTimestamp();
        var frequency = (double)Stopwatch.Frequency;
        try
        {
            var attempts = new List<Task>(settings.Connections);
            using var pending = new SemaphoreSlim(settings.MaxPendingConnects, settings.MaxPendingConnects);
            await using (var pacer = new Pacer())
            {
                var nextLine = start + Stopwatch.Frequency;
                var lastConnected = 0;
                for (var i = 0; i < settings.Connections;)
                {
                    var now = Stopwatch.GetTimestamp();
                    var due = Math.Min(settings.Connections, (long)((now - start) / frequency * settings.ConnectRate) + 1);
                    for (; i < due; i++)
                    {
                        if (!pending.Wait(0))
                        {
                            // The broker is behind: wait for an answer rather than pile up timeouts in its backlog,
                            // then go round again (progress line, new due count).
                            if (await pending.WaitAsync(TimeSpan.FromMilliseconds(100), cancellationToken).ConfigureAwait(false))
                                attempts.Add(ConnectOneAsync(i, ClientId(runId, i++), endpoint, pending, cancellationToken));
                            break;
                        }
                        attempts.Add(ConnectOneAsync(i, ClientId(runId, i), endpoint, pending, cancellationToken));
                    }
                    if (now >= nextLine)
                    {
                        var connected = Volatile.Read(ref _connected);
                        Progress($"[connect] {connected - lastConnected,6}/s  connected {connected}  failed {Volatile.Read(ref _failed)}  of {settings.Connections}");
                        lastConnected = connected;
                        nextLine += Stopwatch.Frequency;
                    }
                    if (i < due)
                        continue; // held back by --max-pending
                    if (i < settings.Connections)
                        await pacer.WaitUntilAsync(start + (long)(i / settings.ConnectRate * frequency)).ConfigureAwait(false);
                }
            }
            await Task.WhenAll(attempts).ConfigureAwait(false);
            var connectedSample = sampler.Take();
            var connectSeconds = (Volatile.Read(ref _lastConnectedAt) - start) / frequency;
            Progress($"[connect] done: connected {_connected}, failed {_failed} in {connectSeconds:0.00}s");

            var open = _open.ToList();
            using var pinger = new Pinger(open, settings.KeepAlive);
            var before = sampler.Take();
            var end = before.Timestamp + RunClock.Ticks(settings.Duration);
            long peakRss = before.BrokerRssKb;
            while (Stopwatch.GetTimestamp() < end)
            {
                await Task.Delay(Min(RunClock.Until(end), TimeSpan.FromSeconds(1)), cancellationToken).ConfigureAwait(false);
                var sample = sampler.Take();
                peakRss = Math.Max(peakRss, sample.BrokerRssKb);
                Progress($"[hold   ] open {open.Count - CountFailed(open)}  dropped by broker {CountFailed(open)}");
            }
            var after = sampler.Take();
            return BuildReport(sampler, baseline, connectedSample, before, after, connectSeconds, peakRss, open);
        }
        finally
        {
            await CloseAllAsync().ConfigureAwait(false);
        }
    }

    private async Task ConnectOneAsync(int index, string clientId, System.Net.EndPoint endpoint, SemaphoreSlim pending, CancellationToken cancellationToken)
    {
        await Task.Yield();
        try
        {
            await ConnectOneAsync(index, clientId, endpoint, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            pending.Release();
        }
    }

    private async Task ConnectOneAsync(int index, string clientId, System.Net.EndPoint endpoint, CancellationToken cancellationToken)
    {
        var connection = new BenchConnection(clientId, settings.Version, ReceiveBufferSize, localAddress: settings.LocalAddress(index)) { Transport = settings.TransportFor() };
        try
        {
            var (username, password) = settings.CredentialsFor(index);
            var started = Stopwatch.GetTimestamp();
            await connection.ConnectAsync(endpoint, settings.KeepAlive, username, password,
                settings.ConnectTimeout, cancellationToken, settings.PersistentSessions).ConfigureAwait(false);
            var micros = (long)Stopwatch.GetElapsedTime(started).TotalMicroseconds;
            if (settings.SubscribeFilter is { } filter)
                await connection.SubscribeAsync(filter, Broker.Abstractions.MqttQos.AtLeastOnce, settings.ConnectTimeout, cancellationToken).ConfigureAwait(false);
            lock (_connackLatency)
                _connackLatency.Record(micros);
            _open.Enqueue(connection);
            Interlocked.Increment(ref _connected);
            InterlockedMax(ref _lastConnectedAt, Stopwatch.GetTimestamp());
        }
        catch (BenchException ex)
        {
            Interlocked.Increment(ref _failed);
            Interlocked.CompareExchange(ref _firstFailure, $"{clientId}: {ex.Message}", null);
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    private BenchReport BuildReport(ProcessSampler sampler, ProcessSample baseline, ProcessSample connectedSample, ProcessSample before, ProcessSample after,
        double connectSeconds, long peakRss, List<BenchConnection> open)
    {
        var window = ProcessSample.Seconds(before, after);
        var report = new BenchReport
        {
            Scenario = "conn",
            Label = settings.Label,
            Broker = $"{settings.Host}:{settings.Port}",
            Version = settings.VersionText,
            WindowSeconds = TrafficScenario.Round(window, 3),
            Connections = settings.Connections,
            ConnectRateOffered = settings.ConnectRate,
            Connected = _connected,
            ConnectFailures = _failed,
            FirstConnectFailure = _firstFailure,
            ConnectRate = TrafficScenario.Round(TrafficScenario.PerSecond(_connected, connectSeconds), 1),
            ConnackLatency = _connackLatency.Count > 0 ? LatencyReport.Of(_connackLatency) : null,
            GeneratorCpuPercent = TrafficScenario.Round(window > 0 ? (after.GeneratorCpuSeconds - before.GeneratorCpuSeconds) / window * 100 : 0, 1),
            GeneratorCpuMicrosPerConnect = _connected > 0 ? TrafficScenario.Round((connectedSample.GeneratorCpuSeconds - baseline.GeneratorCpuSeconds) * 1e6 / _connected, 1) : null,
        };
        foreach (var connection in open)
        {
            if (connection.Failure is { } failure)
            {
                report.Disconnected++;
                report.FirstDisconnect ??= $"{connection.ClientId}: {failure}";
            }
        }
        if (sampler.HasBroker)
        {
            sampler.Fill(report, before, after, rssFrom: baseline);
            report.BrokerRssPeakKb = peakRss;
            if (_connected > 0)
                report.BrokerCpuMicrosPerConnect = TrafficScenario.Round((connectedSample.BrokerCpuSeconds - baseline.BrokerCpuSeconds) * 1e6 / _connected, 1);
            if (_connected > 0)
                report.RssPerConnectionBytes = TrafficScenario.Round((after.BrokerRssKb - baseline.BrokerRssKb) * 1024.0 / _connected, 0);
        }
        return report;
    }

    private async Task CloseAllAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var options = new ParallelOptions { MaxDegreeOfParallelism = 256 };
        await Parallel.ForEachAsync(_open, options, async (connection, _) =>
            {
                await connection.DisconnectAsync(timeout.Token).ConfigureAwait(false);
                await connection.DisposeAsync().ConfigureAwait(false);
            })
            .ConfigureAwait(false);
    }

    private static string ClientId(string runId, int index) => $"bench-{runId}-c{index.ToString(CultureInfo.InvariantCulture)}";

    private static int CountFailed(List<BenchConnection> connections)
    {
        var failed = 0;
        foreach (var connection in connections)
            failed += connection.Failure is null ? 0 : 1;
        return failed;
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static void InterlockedMax(ref long target, long value)
    {
        var current = Volatile.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
                return;
            current = seen;
        }
    }

    private void Progress(string line)
    {
        if (!settings.Quiet)
            progress.WriteLine(line);
    }
}
