using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Broker.Bench.Client;
using Broker.Bench.Measure;
using Broker.Bench.Report;
using Broker.Protocol;

namespace Broker.Bench.Scenarios;

/// <summary>
/// convergence: how long until a new subscription on one broker (--sub-host/--sub-port: a cluster's node B) receives
/// what is published on another (--host/--port: node A). Each of <see cref="BenchSettings.Rounds"/> rounds subscribes
/// the subscriber to a fresh topic and, from the moment its SUBACK is read, has the publisher send QoS 0 messages to
/// that topic every <see cref="BenchSettings.PublishInterval"/> until the first one arrives: convergence = first
/// delivery − SUBACK (nothing subtracted; it includes up to one interval and that message's own trip, which is
/// reported beside it). A round with nothing after <see cref="BenchSettings.RoundTimeout"/> is a timeout.
/// </summary>
/// <remarks>
/// Against one broker the number is that broker's subscribe-to-delivery time plus the trip. The subscriptions of
/// earlier rounds stay (one filter per round; their topics are no longer published to).
/// </remarks>
internal sealed class ConvergenceScenario(BenchSettings settings, TextWriter progress)
{
    public async Task<BenchReport> RunAsync(CancellationToken cancellationToken)
    {
        var sampler = new ProcessSampler(settings.BrokerPids);
        sampler.Validate();
        var endpoint = await settings.ResolveAsync(cancellationToken).ConfigureAwait(false);
        var subscriberEndpoint = await settings.ResolveSubscriberAsync(cancellationToken).ConfigureAwait(false);
        var runId = RandomNumberGenerator.GetHexString(8, lowercase: true);
        var magic = (uint)RandomNumberGenerator.GetInt32(int.MaxValue) | 1u;
        var probe = new ConvergenceProbe(magic);
        await using var subscriber = new BenchConnection($"bench-{runId}-sub", settings.Version, 16 * 1024, probe, settings.LocalAddress(0))
            { Transport = settings.TransportFor(settings.SubscriberHost) };
        await using var publisher = new BenchConnection($"bench-{runId}-pub", settings.Version, 4 * 1024, localAddress: settings.LocalAddress(1))
            { Transport = settings.TransportFor() };
        await subscriber.ConnectAsync(subscriberEndpoint, settings.KeepAlive, settings.Username, settings.Password, settings.ConnectTimeout, cancellationToken)
            .ConfigureAwait(false);
        await publisher.ConnectAsync(endpoint, settings.KeepAlive, settings.Username, settings.Password, settings.ConnectTimeout, cancellationToken)
            .ConfigureAwait(false);
        Progress($"subscriber on {subscriberEndpoint}, publisher on {endpoint}; run {runId}, {settings.Rounds} rounds");

        var convergence = new LatencyHistogram();
        var trip = new LatencyHistogram();
        var timeouts = 0;
        long publishes = 0;
        var before = sampler.Take();
        using var pinger = new Pinger([subscriber, publisher], settings.KeepAlive);
        for (var round = 0; round < settings.Rounds; round++)
        {
            var topic = $"bench/{runId}/conv/{round.ToString(CultureInfo.InvariantCulture)}";
            probe.Begin(round);
            publisher.ConfigurePublisher(topic, 0, BenchPayload.Size, 1, magic, round);
            await subscriber.SubscribeAsync(topic, MqttQos.AtMostOnce, settings.ConnectTimeout, cancellationToken).ConfigureAwait(false);
            var subAckAt = Stopwatch.GetTimestamp();
            var first = probe.First;
            var deadline = subAckAt + RunClock.Ticks(settings.RoundTimeout);
            var next = subAckAt;
            while (!first.IsCompleted && Stopwatch.GetTimestamp() < deadline)
            {
                if (await publisher.PublishBatchAsync(1, cancellationToken).ConfigureAwait(false) == 0)
                    throw new BenchException($"publisher: {publisher.Failure}");
                publishes++;
                next += RunClock.Ticks(settings.PublishInterval);
                var wait = RunClock.Until(next);
                if (wait > TimeSpan.Zero)
                    await Task.WhenAny(first, Task.Delay(wait, cancellationToken)).ConfigureAwait(false);
            }
            if (subscriber.Failure is { } failure)
                throw new BenchException($"subscriber: {failure}");
            if (!first.IsCompleted)
            {
                timeouts++;
                Progress($"[round {round}] nothing within {settings.RoundTimeout.TotalSeconds:0.###}s");
                continue;
            }
            var (receivedAt, sentAt) = await first.ConfigureAwait(false);
            var micros = ConvergenceProbe.Micros(subAckAt, receivedAt);
            convergence.Record(Math.Max(0, micros));
            trip.Record(Math.Max(0, ConvergenceProbe.Micros(sentAt, receivedAt)));
            if (!settings.Quiet && (round + 1) % 20 == 0)
                Progress($"[round {round + 1}] last {micros / 1000.0:0.00} ms, p50 so far {convergence.Percentile(50) / 1000.0:0.00} ms");
        }
        var after = sampler.Take();

        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            await publisher.DisconnectAsync(timeout.Token).ConfigureAwait(false);
            await subscriber.DisconnectAsync(timeout.Token).ConfigureAwait(false);
        }

        var window = ProcessSample.Seconds(before, after);
        var report = new BenchReport
        {
            Scenario = "convergence",
            Label = settings.Label,
            Broker = $"{settings.Host}:{settings.Port}",
            SubscriberBroker = settings.SplitBrokers ? $"{settings.SubscriberHost}:{settings.SubscriberPort}" : null,
            Version = settings.VersionText,
            Qos = 0,
            WindowSeconds = TrafficScenario.Round(window, 3),
            Rounds = settings.Rounds,
            RoundTimeouts = timeouts,
            PublishIntervalMicros = TrafficScenario.Round(settings.PublishInterval.TotalMicroseconds, 0),
            Sent = publishes,
            Convergence = convergence.Count > 0 ? LatencyReport.Of(convergence) : null,
            FirstDeliveryLatency = trip.Count > 0 ? LatencyReport.Of(trip) : null,
            GeneratorCpuPercent = TrafficScenario.Round(window > 0 ? (after.GeneratorCpuSeconds - before.GeneratorCpuSeconds) / window * 100 : 0, 1),
        };
        sampler.Fill(report, before, after);
        return report;
    }

    private void Progress(string line)
    {
        if (!settings.Quiet)
            progress.WriteLine(line);
    }
}
