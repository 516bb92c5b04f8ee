using System.Globalization;

namespace Broker.EndToEnd.Tests.Infrastructure;

/// <summary>
/// The healthy pair of issue 17's tests: one QoS 1 publisher/subscriber pair of the real load generator at 200 msg/s,
/// whose rate and p99 latency must not suffer from what runs beside it.
/// </summary>
public static class HealthyPair
{
    /// <summary>Runs the pair for <paramref name="duration"/> after a second of warm-up; its clients connect at once.</summary>
    /// <param name="broker">The broker under test.</param>
    /// <param name="duration">How long the pair is measured.</param>
    /// <param name="credentials">A user name and password both clients log in with (anonymous when null).</param>
    public static Task<BenchResult> RunAsync(BrokerProcess broker, string duration, (string User, string Password)? credentials = null) =>
        credentials is { } c
            ? BenchRunner.RunAsync(broker, "p2p", "--pairs", "1", "--qos", "1", "--rate", "200",
                "--duration", duration, "--warmup", "1s", "--quiet", "--username", c.User, "--password", c.Password)
            : BenchRunner.RunAsync(broker, "p2p", "--pairs", "1", "--qos", "1", "--rate", "200",
                "--duration", duration, "--warmup", "1s", "--quiet");

    /// <summary>Nothing lost, at least 190 msg/s received, p99 under 50 ms.</summary>
    public static void AssertUnaffected(BenchResult pair)
    {
        Assert.True(pair.ExitCode == 0 && pair.Report is not null, pair.Transcript);
        Assert.Equal(0, pair.Long("lost"));
        var rate = pair.Report!.Value.GetProperty("receive_rate").GetDouble();
        var latency = pair.Report.Value.GetProperty("latency");
        var p99 = latency.GetProperty("p99").GetDouble();
        Assert.True(rate >= 190, $"the pair fell to {rate.ToString("0", CultureInfo.InvariantCulture)} msg/s");
        Assert.True(p99 < 50_000, $"the pair's p99 is {p99.ToString("0", CultureInfo.InvariantCulture)} µs (latency in µs: {latency})");
    }
}
