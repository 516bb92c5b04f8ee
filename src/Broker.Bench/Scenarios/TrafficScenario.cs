using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using Broker.Bench.Client;
using Broker.Bench.Measure;
using Broker.Bench.Report;
using Broker.Protocol;

namespace Broker.Bench.Scenarios;

/// <summary>
/// fanin, fanout and p2p: connect the subscribers and subscribe, connect the publishers, publish for warm-up plus
/// duration, then wait (at most <see cref="BenchSettings.DrainTimeout"/>) for the last deliveries and acks before
/// counting what was lost.
/// </summary>
/// <remarks>
/// Topics live under <c>bench/&lt;run id&gt;/</c> so two runs (or other clients) never mix; a stray message is
/// recognised by the run's magic number and counted apart. Throughput and CPU are deltas between two samples taken
/// at the start and end of the measured window; latency covers the first deliveries of messages sent inside it.
/// </remarks>
internal sealed class TrafficScenario(BenchSettings settings, TextWriter progress)
{
    private const int ConnectParallelism = 64;

    private readonly RunClock _clock = new();
    private readonly List<BenchConnection> _publishers = [];
    private readonly List<BenchConnection> _subscribers = [];
    private readonly List<DeliveryRecorder> _recorders = [];

    /// <summary>(subscriber, publisher) pairs: every message of the publisher must reach the subscriber.</summary>
    private readonly List<(int Subscriber, int Publisher)> _expectations = [];
    private UncoordinatedPacer? _uncoordinated; // the fixed-rate sender, uncoordinated pacing

    public async Task<BenchReport> RunAsync(CancellationToken cancellationToken)
    {
        var sampler = new ProcessSampler(settings.BrokerPids);
        sampler.Validate();
        var endpoint = await settings.ResolveAsync(cancellationToken).ConfigureAwait(false);
        var subscriberEndpoint = await settings.ResolveSubscriberAsync(cancellationToken).ConfigureAwait(false);
        var runId = RandomNumberGenerator.GetHexString(8, lowercase: true);
        var magic = (uint)RandomNumberGenerator.GetInt32(int.MaxValue) | 1u;
        var (publisherTopics, subscriberFilters) = Topology(runId);
        await using var idle = new IdleSubscriptions(settings, runId, settings.Quiet ? null : progress);

        try
        {
            // The idle subscriptions first: their setup is not part of anything measured.
            await idle.SetUpAsync(endpoint, cancellationToken).ConfigureAwait(false);

            // Subscribers first, so the first message already has somewhere to go.
            var receiveBuffer = subscriberFilters.Count <= 100 ? 64 * 1024 : 16 * 1024;
            for (var i = 0; i < subscriberFilters.Count; i++)
            {
                var recorder = new DeliveryRecorder(magic, _clock);
                _recorders.Add(recorder);
                _subscribers.Add(new BenchConnection($"bench-{runId}-sub-{i}", settings.Version, receiveBuffer, recorder, settings.LocalAddress(i)) { Transport = settings.TransportFor(settings.SubscriberHost) });
            }
            for (var i = 0; i < publisherTopics.Count; i++)
                _publishers.Add(new BenchConnection($"bench-{runId}-pub-{i}", settings.Version, 4 * 1024, localAddress: settings.LocalAddress(subscriberFilters.Count + i)) { Transport = settings.TransportFor() });

            var setup = Stopwatch.StartNew();
            await ConnectAllAsync(_subscribers, subscriberEndpoint, cancellationToken).ConfigureAwait(false);
            await Parallel.ForAsync(0, _subscribers.Count, ConnectOptions(cancellationToken), async (i, ct) =>
                await _subscribers[i].SubscribeAsync(subscriberFilters[i], (MqttQos)settings.Qos, settings.ConnectTimeout, ct).ConfigureAwait(false))
                .ConfigureAwait(false);
            await ConnectAllAsync(_publishers, endpoint, cancellationToken).ConfigureAwait(false);
            // Subscribers on another node: its routes must reach the publishers' node before the first message, or
            // that message has nowhere to go there (lost, and counted so).
            if (settings.SettleTime > TimeSpan.Zero)
                await Task.Delay(settings.SettleTime, cancellationToken).ConfigureAwait(false);
            for (var i = 0; i < _publishers.Count; i++)
                _publishers[i].ConfigurePublisher(publisherTopics[i], settings.Qos, settings.Size, settings.Inflight, magic, i);
            var where = settings.SplitBrokers ? $"{subscriberEndpoint} and {endpoint}" : endpoint.ToString();
            Progress($"connected {_subscribers.Count} subscriber(s) and {_publishers.Count} publisher(s) to {where} in {setup.Elapsed.TotalSeconds:0.00}s; run {runId}");

            var report = await MeasureAsync(sampler, cancellationToken).ConfigureAwait(false);
            report.IdleSubscriptions = settings.IdleSubscriptions;
            if (idle.Connections > 0)
            {
                report.IdleConnections = idle.Connections;
                report.IdleSetupSeconds = Round(idle.SetupSeconds, 2);
                report.IdleDisconnected = idle.Disconnected;
                report.IdleDeliveries = idle.Deliveries;
                report.FirstIdleDisconnect = idle.FirstFailure;
            }
            return report;
        }
        finally
        {
            await DisconnectAllAsync().ConfigureAwait(false);
        }
    }

    private (List<string> PublisherTopics, List<string> SubscriberFilters) Topology(string runId)
    {
        var prefix = $"bench/{runId}/";
        var publishers = new List<string>();
        var subscribers = new List<string>();
        switch (settings.Scenario)
        {
            case Scenario.FanIn:
                for (var i = 0; i < settings.Publishers; i++)
                {
                    publishers.Add(prefix + "fanin/" + i.ToString(CultureInfo.InvariantCulture));
                    _expectations.Add((0, i));
                }
                subscribers.Add(prefix + "fanin/+");
                break;
            case Scenario.FanOut:
                publishers.Add(prefix + "fanout");
                for (var i = 0; i < settings.Subscribers; i++)
                {
                    subscribers.Add(prefix + "fanout");
                    _expectations.Add((i, 0));
                }
                break;
            case Scenario.P2p:
                for (var i = 0; i < settings.Publishers; i++)
                {
                    var topic = prefix + "p2p/" + i.ToString(CultureInfo.InvariantCulture);
                    publishers.Add(topic);
                    subscribers.Add(topic);
                    _expectations.Add((i, i));
                }
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(settings), settings.Scenario, "not a traffic scenario");
        }
        return (publishers, subscribers);
    }

    private async Task<BenchReport> MeasureAsync(ProcessSampler sampler, CancellationToken cancellationToken)
    {
        var frequency = Stopwatch.Frequency;
        var start = Stopwatch.GetTimestamp();
        var windowStart = start + RunClock.Ticks(settings.Warmup);
        var windowEnd = windowStart + RunClock.Ticks(settings.Duration);
        _clock.Set(windowStart, windowEnd);

        using var stopSending = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stopSending.CancelAfter(RunClock.Until(windowEnd) + settings.DrainTimeout);
        await using var pacer = new Pacer();
        Task[] publishing;
        if (settings.Rate > 0 && settings.Pacing == Pacing.Uncoordinated)
        {
            _uncoordinated = new UncoordinatedPacer(_publishers, settings.Rate, start, windowEnd, seed: 1883, stopSending.Token);
            publishing = [_uncoordinated.RunAsync()];
        }
        else
        {
            publishing = new Task[_publishers.Count];
            for (var i = 0; i < _publishers.Count; i++)
                publishing[i] = PublishLoopAsync(_publishers[i], i, start, windowEnd, pacer, stopSending.Token);
        }
        using var pinger = new Pinger(_publishers.Concat(_subscribers).ToList(), settings.KeepAlive);

        var before = default(ProcessSample);
        var after = default(ProcessSample);
        long sentBefore = 0, receivedBefore = 0, sentAfter = 0, receivedAfter = 0;
        var inWindow = false;
        long peakRss = 0;
        var lastLine = (Time: start, Sent: 0L, Received: 0L);
        var nextLine = start + frequency;
        while (true)
        {
            var now = Stopwatch.GetTimestamp();
            if (!inWindow && now >= windowStart)
            {
                before = sampler.Take();
                sentBefore = SumSent();
                receivedBefore = SumReceived();
                peakRss = before.BrokerRssKb;
                inWindow = true;
            }
            if (inWindow && now >= windowEnd)
            {
                after = sampler.Take();
                sentAfter = SumSent();
                receivedAfter = SumReceived();
                peakRss = Math.Max(peakRss, after.BrokerRssKb);
                break;
            }
            if (now >= nextLine)
            {
                lastLine = ProgressLine(lastLine, lastLine.Time < windowStart ? "warmup" : "measure");
                if (inWindow && sampler.HasBroker)
                    peakRss = Math.Max(peakRss, sampler.Take().BrokerRssKb);
                nextLine += frequency;
            }
            await Task.Delay(RunClock.Until(Math.Min(inWindow ? windowEnd : windowStart, nextLine)), cancellationToken).ConfigureAwait(false);
        }

        await Task.WhenAll(publishing).ConfigureAwait(false);
        await DrainAsync(cancellationToken).ConfigureAwait(false);
        ProgressLine(lastLine, "drained");
        return BuildReport(sampler, before, after, sentAfter - sentBefore, receivedAfter - receivedBefore, peakRss);
    }

    /// <summary>
    /// Ticked pacing (<see cref="Pacer"/>) at a fixed rate, or as fast as possible. Fixed rate: message k of publisher i
    /// of P is due at start + (k + i/P) / (rate/P) seconds, so publishers are spread evenly over each interval. As fast as possible: full batches back to back, bounded by the socket and,
    /// for QoS 1/2, the in-flight window.
    /// </summary>
    private async Task PublishLoopAsync(BenchConnection connection, int index, long start, long end, Pacer pacer,
        CancellationToken cancellationToken)
    {
        await Task.Yield();
        var perPublisher = settings.Rate / _publishers.Count;
        var phase = index / (double)_publishers.Count;
        var frequency = (double)Stopwatch.Frequency;
        try
        {
            while (connection.Failure is null)
            {
                var now = Stopwatch.GetTimestamp();
                if (now >= end)
                    return;
                var count = connection.BatchCapacity;
                if (perPublisher > 0)
                {
                    var elapsed = (now - start) / frequency * perPublisher - phase;
                    var due = elapsed < 0 ? 0 : (long)elapsed + 1;
                    var pending = due - connection.NextSequence;
                    if (pending <= 0)
                    {
                        var next = start + (long)((connection.NextSequence + phase) / perPublisher * frequency);
                        await pacer.WaitUntilAsync(Math.Min(next, end)).ConfigureAwait(false);
                        continue;
                    }
                    count = (int)Math.Min(pending, count);
                }
                if (await connection.PublishBatchAsync(count, cancellationToken).ConfigureAwait(false) == 0)
                    return;
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The drain timeout passed while waiting for the in-flight window.
        }
    }

    /// <summary>Waits until every expected delivery and every ack has arrived, or the drain timeout passes.</summary>
    private async Task DrainAsync(CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + RunClock.Ticks(settings.DrainTimeout);
        while (Stopwatch.GetTimestamp() < deadline && !Drained())
            await Task.Delay(TimeSpan.FromMilliseconds(20), cancellationToken).ConfigureAwait(false);
    }

    private bool Drained()
    {
        foreach (var publisher in _publishers)
        {
            if (publisher.Failure is null && publisher.Inflight > 0)
                return false;
        }
        foreach (var (subscriber, publisher) in _expectations)
        {
            if (_subscribers[subscriber].Failure is null
                && (_recorders[subscriber].Find(publisher)?.Unique ?? 0) < _publishers[publisher].Sent)
            {
                return false;
            }
        }
        return true;
    }

    private BenchReport BuildReport(ProcessSampler sampler, ProcessSample before, ProcessSample after, long sentInWindow, long receivedInWindow, long peakRss)
    {
        var window = ProcessSample.Seconds(before, after);
        long sent = 0, expected = 0, received = 0, lost = 0, duplicates = 0, outOfOrder = 0, rejected = 0;
        foreach (var publisher in _publishers)
        {
            sent += publisher.Sent;
            rejected += publisher.Rejected;
        }
        foreach (var (subscriber, publisher) in _expectations)
        {
            var publisherSent = _publishers[publisher].Sent;
            var unique = _recorders[subscriber].Find(publisher)?.Unique ?? 0;
            expected += publisherSent;
            lost += Math.Max(0, publisherSent - unique);
        }
        var latency = new LatencyHistogram();
        foreach (var recorder in _recorders)
        {
            received += recorder.Received;
            duplicates += recorder.Duplicates;
            outOfOrder += recorder.OutOfOrder;
            latency.Add(recorder.Latency);
        }

        var report = new BenchReport
        {
            Scenario = settings.Scenario.ToString().ToLowerInvariant(),
            Label = settings.Label,
            Broker = $"{settings.Host}:{settings.Port}",
            SubscriberBroker = settings.SplitBrokers ? $"{settings.SubscriberHost}:{settings.SubscriberPort}" : null,
            Version = settings.VersionText,
            Qos = settings.Qos,
            Size = Math.Max(settings.Size, BenchPayload.Size),
            Publishers = _publishers.Count,
            Subscribers = _subscribers.Count,
            Rate = settings.Rate,
            Pacing = settings.Rate > 0 ? settings.Pacing.ToString().ToLowerInvariant() : null,
            SendLateness = _uncoordinated is { } paced ? LatencyReport.Of(paced.Lateness) : null,
            Inflight = settings.Qos > 0 ? settings.Inflight : null,
            WarmupSeconds = settings.Warmup.TotalSeconds,
            WindowSeconds = Round(window, 3),
            Sent = sent,
            Expected = expected,
            Received = received,
            Lost = lost,
            Duplicates = duplicates,
            OutOfOrder = outOfOrder,
            Rejected = rejected,
            SendRate = Round(PerSecond(sentInWindow, window), 1),
            ReceiveRate = Round(PerSecond(receivedInWindow, window), 1),
            Latency = LatencyReport.Of(latency),
            GeneratorCpuPercent = Round(window > 0 ? (after.GeneratorCpuSeconds - before.GeneratorCpuSeconds) / window * 100 : 0, 1),
        };
        foreach (var connection in _publishers.Concat(_subscribers))
        {
            if (connection.Failure is { } failure)
            {
                report.Disconnected++;
                report.FirstDisconnect ??= $"{connection.ClientId}: {failure}";
            }
        }
        if (sampler.HasBroker)
        {
            var cpu = sampler.Fill(report, before, after);
            report.BrokerCpuMicrosPerMessage = Round(receivedInWindow > 0 ? cpu * 1e6 / receivedInWindow : 0, 2);
            report.BrokerRssPeakKb = peakRss;
        }
        return report;
    }

    private (long Time, long Sent, long Received) ProgressLine((long Time, long Sent, long Received) last, string phase)
    {
        var now = Stopwatch.GetTimestamp();
        var sent = SumSent();
        var received = SumReceived();
        var seconds = (now - last.Time) / (double)Stopwatch.Frequency;
        var inflight = 0;
        var failed = 0;
        foreach (var publisher in _publishers)
        {
            inflight += publisher.Inflight;
            failed += publisher.Failure is null ? 0 : 1;
        }
        foreach (var subscriber in _subscribers)
            failed += subscriber.Failure is null ? 0 : 1;
        Progress(string.Create(CultureInfo.InvariantCulture,
            $"[{phase,-7}] sent {PerSecond(sent - last.Sent, seconds),9:0}/s  recv {PerSecond(received - last.Received, seconds),9:0}/s  total sent {sent} recv {received}  inflight {inflight}  failed conns {failed}"));
        return (now, sent, received);
    }

    private long SumSent()
    {
        long total = 0;
        foreach (var publisher in _publishers)
            total += publisher.Sent;
        return total;
    }

    private long SumReceived()
    {
        long total = 0;
        foreach (var recorder in _recorders)
            total += recorder.Received;
        return total;
    }

    private async Task ConnectAllAsync(List<BenchConnection> connections, EndPoint endpoint, CancellationToken cancellationToken) =>
        await Parallel.ForAsync(0, connections.Count, ConnectOptions(cancellationToken), async (i, ct) =>
            {
                try
                {
                    await connections[i].ConnectAsync(endpoint, settings.KeepAlive, settings.Username, settings.Password,
                        settings.ConnectTimeout, ct, settings.PersistentSessions).ConfigureAwait(false);
                }
                catch (BenchException ex)
                {
                    throw new BenchException($"{connections[i].ClientId}: {ex.Message}");
                }
            })
            .ConfigureAwait(false);

    private async Task DisconnectAllAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var all = _publishers.Concat(_subscribers).ToList();
        await Parallel.ForEachAsync(all, ConnectOptions(CancellationToken.None), async (connection, _) =>
            {
                await connection.DisconnectAsync(timeout.Token).ConfigureAwait(false);
                await connection.DisposeAsync().ConfigureAwait(false);
            })
            .ConfigureAwait(false);
    }

    private static ParallelOptions ConnectOptions(CancellationToken cancellationToken) =>
        new() { MaxDegreeOfParallelism = ConnectParallelism, CancellationToken = cancellationToken };

    private void Progress(string line)
    {
        if (!settings.Quiet)
            progress.WriteLine(line);
    }

    internal static double PerSecond(long count, double seconds) => seconds > 0 ? count / seconds : 0;

    internal static double Round(double value, int digits) =>
        double.IsFinite(value) ? Math.Round(value, digits) : 0;
}
