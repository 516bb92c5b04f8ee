using System.Globalization;
using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests;

/// <summary>
/// The load generator's own accounting against the real broker: at a low fixed rate nothing may be lost or doubled,
/// so every report must say sent == received, lost == 0, dup == 0. A correctness test of the tool (and of the
/// broker's delivery), not a timed test: rates and latencies are not asserted.
/// </summary>
public sealed class BenchSmokeTests
{
    private static async Task<BenchResult> RunAsync(BrokerProcess broker, params string[] arguments)
    {
        var result = await BenchRunner.RunAsync(broker, [.. arguments, "--duration", "2s", "--warmup", "500ms", "--quiet"]);
        Assert.True(result.ExitCode == 0, result.Transcript);
        Assert.True(result.Report is not null, "no JSON report:\n" + result.Transcript);
        return result;
    }

    private static void AssertNothingLostOrDoubled(BenchResult result, long expectedPerMessage)
    {
        var sent = result.Long("sent");
        Assert.True(sent > 0, result.Transcript);
        Assert.Equal(sent * expectedPerMessage, result.Long("expected"));
        Assert.Equal(result.Long("expected"), result.Long("received"));
        Assert.Equal(0, result.Long("lost"));
        Assert.Equal(0, result.Long("duplicates"));
        Assert.Equal(0, result.Long("out_of_order"));
        Assert.Equal(0, result.Long("disconnected"));
        Assert.True(result.Report!.Value.GetProperty("latency").GetProperty("count").GetInt64() > 0, result.Transcript);
    }

    [Theory]
    [InlineData("3.1.1", "1")]
    [InlineData("5", "2")]
    public async Task P2p_LowFixedRate_EveryMessageReceivedOnce(string version, string qos)
    {
        await using var broker = await BrokerProcess.StartAsync();
        var result = await RunAsync(broker, "p2p", "--pairs", "3", "--qos", qos, "--version", version, "--rate", "300");
        AssertNothingLostOrDoubled(result, 1);
        Assert.Equal(3, result.Long("publishers"));
        Assert.Equal(3, result.Long("subscribers"));
    }

    [Fact]
    public async Task FanIn_LowFixedRateQos0_EveryMessageReceivedOnceAndBrokerSampled()
    {
        await using var broker = await BrokerProcess.StartAsync();
        var result = await RunAsync(broker, "fanin", "--publishers", "4", "--qos", "0", "--rate", "400",
            "--broker-pid", broker.ProcessId.ToString(CultureInfo.InvariantCulture));
        AssertNothingLostOrDoubled(result, 1);
        // /proc was read: a live .NET process has resident memory, and CPU per message was computed.
        Assert.True(result.Long("broker_rss_end_kb") > 0, result.Transcript);
        Assert.True(result.Report!.Value.TryGetProperty("broker_cpu_micros_per_message", out _), result.Transcript);
    }

    // The default, uncoordinated pacing: each message is sent alone at its scheduled time, and how late each left is
    // reported for every message sent. The ticked pacer stays available and reports no lateness.
    [Theory]
    [InlineData("uncoordinated")]
    [InlineData("ticked")]
    public async Task FanIn_EitherPacing_EveryMessageReceivedOnceAndPacingReported(string pacing)
    {
        await using var broker = await BrokerProcess.StartAsync();
        string[] arguments = pacing == "ticked"
            ? ["fanin", "--publishers", "5", "--qos", "1", "--rate", "500", "--pacing", "ticked"]
            : ["fanin", "--publishers", "5", "--qos", "1", "--rate", "500"];
        var result = await RunAsync(broker, arguments);
        AssertNothingLostOrDoubled(result, 1);
        var report = result.Report!.Value;
        Assert.Equal(pacing, report.GetProperty("pacing").GetString());
        if (pacing == "ticked")
        {
            Assert.False(report.TryGetProperty("send_lateness", out _), result.Transcript);
            return;
        }
        var lateness = report.GetProperty("send_lateness");
        Assert.Equal(result.Long("sent"), lateness.GetProperty("count").GetInt64());
        Assert.True(lateness.GetProperty("p50").GetInt64() <= lateness.GetProperty("max").GetInt64(), result.Transcript);
    }

    // --transport: the generator over TLS, WebSocket and WebSocket over TLS, against the broker's ssl, ws and wss
    // listeners (issue 19's TLS and WebSocket cases).
    [Theory]
    [InlineData("tls", "ssl")]
    [InlineData("ws", "ws")]
    [InlineData("wss", "wss")]
    public async Task FanIn_OverEachTransport_EveryMessageReceivedOnce(string transport, string listener)
    {
        using var certs = TestCertificates.Create();
        await using var broker = await BrokerProcess.StartAsync(o =>
        {
            if (listener == "ws")
                o["listener.ws.external"] = "127.0.0.1:0";
            else
                certs.Configure(o, listener);
        });
        var port = await broker.ListenerPortAsync($"{listener}:external");
        var result = await BenchRunner.RunAsync(broker.Host, port, ["fanin", "--publishers", "3", "--qos", "1", "--rate", "300",
            "--transport", transport, "--duration", "2s", "--warmup", "500ms", "--quiet"]);
        Assert.True(result.ExitCode == 0, result.Transcript);
        AssertNothingLostOrDoubled(result, 1);
    }

    [Fact]
    public async Task FanIn_WithIdleSubscriptions_AllGrantedHeldAndNotCounted()
    {
        await using var broker = await BrokerProcess.StartAsync();
        var result = await RunAsync(broker, "fanin", "--publishers", "4", "--qos", "0", "--rate", "400",
            "--idle-subscriptions", "2000", "--idle-connections", "7");
        AssertNothingLostOrDoubled(result, 1);
        Assert.Equal(2000, result.Long("idle_subscriptions"));
        Assert.Equal(7, result.Long("idle_connections"));
        Assert.Equal(0, result.Long("idle_disconnected"));
        Assert.Equal(0, result.Long("idle_deliveries"));
        // The idle connections are not traffic: still 4 publishers and 1 subscriber.
        Assert.Equal(4, result.Long("publishers"));
        Assert.Equal(1, result.Long("subscribers"));
    }

    [Fact]
    public async Task FanOut_LowFixedRateQos1_EverySubscriberGetsEveryMessage()
    {
        await using var broker = await BrokerProcess.StartAsync();
        var result = await RunAsync(broker, "fanout", "--subscribers", "3", "--qos", "1", "--rate", "200");
        AssertNothingLostOrDoubled(result, 3);
    }

    [Fact]
    public async Task Conn_FewConnections_AllConnectedNoneDropped()
    {
        await using var broker = await BrokerProcess.StartAsync();
        var result = await BenchRunner.RunAsync(broker, "conn", "--connections", "50", "--conn-rate", "200",
            "--duration", "1s", "--quiet", "--broker-pid", broker.ProcessId.ToString(CultureInfo.InvariantCulture));
        Assert.True(result.ExitCode == 0, result.Transcript);
        Assert.Equal(50, result.Long("connected"));
        Assert.Equal(0, result.Long("connect_failures"));
        Assert.Equal(0, result.Long("disconnected"));
        Assert.True(result.Long("broker_rss_end_kb") > 0, result.Transcript);
        // What each connect cost the broker, from the first connect to the last CONNACK: a CONNACK is work.
        Assert.True(result.Report!.Value.GetProperty("broker_cpu_micros_per_connect").GetDouble() > 0, result.Transcript);
    }

    [Fact]
    public async Task Conn_IfAddr_ConnectionsComeFromEachAddressInTurn()
    {
        await using var broker = await BrokerProcess.StartAsync();
        var result = await BenchRunner.RunAsync(broker, "conn", "--connections", "4", "--conn-rate", "100",
            "--ifaddr", "127.0.0.2,127.0.0.3", "--duration", "1s", "--quiet");
        Assert.True(result.ExitCode == 0, result.Transcript);
        Assert.Equal(4, result.Long("connected"));
        // The broker's connect log names each client's address.
        await broker.WaitForLogAsync(line => line.Contains("connected from 127.0.0.2:", StringComparison.Ordinal), "a client from 127.0.0.2");
        await broker.WaitForLogAsync(line => line.Contains("connected from 127.0.0.3:", StringComparison.Ordinal), "a client from 127.0.0.3");
    }

    [Fact]
    public async Task Bench_BadOption_ExitsTwoNamingTheOption()
    {
        var result = await BenchRunner.RunAsync("127.0.0.1", 1, "p2p", "--qos", "3");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--qos 3", result.Transcript, StringComparison.Ordinal);
    }
}
