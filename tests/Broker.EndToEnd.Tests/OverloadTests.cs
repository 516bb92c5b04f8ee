using System.Globalization;
using System.Text.Json;
using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests;

/// <summary>
/// Issue 17 item 2: memory bounded in bytes, per session (session.max_mqueue_bytes, session.max_qos0_backlog_bytes)
/// and for the whole broker (overload_protection.*), each next to a healthy pair that must not notice.
/// </summary>
[Collection(HealthyPairCollection.Name)]
public sealed class OverloadTests
{
    private const int LargeMessage = 64 * 1024;

    /// <summary>
    /// mosquitto_pub -l sending <paramref name="count"/> messages of 64 KB; the lines are written from another task, so
    /// a publisher the broker holds back does not hold the test.
    /// </summary>
    private static (ChildProcess Pub, Task Writing) LargeMessagesPub(BrokerProcess broker, string topic, int qos, int count)
    {
        var pub = ChildProcess.Start(
            Tools.Require("mosquitto_pub", "mosquitto-clients"),
            ["-h", broker.Host, "-p", broker.Port.ToString(CultureInfo.InvariantCulture), "-i", "large-pub", "-t", topic,
                "-q", qos.ToString(CultureInfo.InvariantCulture), "-l"],
            redirectStdin: true);
        var line = new string('x', LargeMessage - 1);
        var writing = Task.Run(async () =>
        {
            try
            {
                for (var i = 0; i < count; i++)
                    await pub.StandardInput.WriteLineAsync(line);
                pub.StandardInput.Close();
            }
            catch (IOException)
            {
                // mosquitto_pub was stopped by the test.
            }
        });
        return (pub, writing);
    }

    private static async Task<JsonElement> ShowClientAsync(BrokerProcess broker, string clientId)
    {
        var show = await CtlRunner.RunAsync(broker, "--json", "clients", "show", clientId);
        Assert.True(show.ExitCode == 0, show.Transcript);
        return JsonDocument.Parse(show.Stdout).RootElement.GetProperty("data")[0].Clone();
    }

    /// <summary>The $SYS/brokers/&lt;node&gt;/alarms/<paramref name="change"/> message mosquitto_sub printed.</summary>
    private static async Task<ReceivedMessage> AlarmMessageAsync(ChildProcess sub, string change) =>
        ReceivedMessage.Parse(await sub.WaitForLineAsync(
            l => ReceivedMessage.IsMessage(l) && ReceivedMessage.Parse(l).Topic.EndsWith("/alarms/" + change, StringComparison.Ordinal),
            Interop.Timeout, "$SYS alarms/" + change));

    // 2,000 messages of 64 KB (125 MB) for a subscriber that never reads: what the broker holds for it stays within
    // 4 MB per limit (before, its QoS 0 backlog held up to 10,000 messages, 640 MB), the rest is dropped and counted,
    // and a QoS 1 pair beside it at 200 msg/s keeps its rate and latency.
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task StoppedSubscriber_LargeMessages_HeldBytesCapped_HealthyPairUnaffected(int qos)
    {
        await using var broker = await BrokerProcess.StartAsync(o =>
        {
            o["session.max_mqueue_bytes"] = "4MB";
            o["session.max_qos0_backlog_bytes"] = "4MB";
            o["session.slow_subscriber_timeout"] = "1s";
        });
        using var stopped = await StoppedSubscriber.ConnectAsync(broker, "stopped", "large/#");
        await broker.WaitForLogAsync(l => l.Contains("Client stopped (user", StringComparison.Ordinal), "the stopped subscriber");

        var pairRun = HealthyPair.RunAsync(broker, "6s");
        var (pub, writing) = LargeMessagesPub(broker, "large/x", qos, 2000);
        await using (pub)
        {
            var code = await pub.WaitForExitAsync(TimeSpan.FromSeconds(90));
            Assert.True(code == 0, $"mosquitto_pub exited with {code}\n{pub.Transcript}");
            await writing;
        }
        HealthyPair.AssertUnaffected(await pairRun);

        var client = await ShowClientAsync(broker, "stopped");
        Assert.True(client.GetProperty("connected").GetBoolean());
        Assert.InRange(client.GetProperty("mqueue_bytes").GetInt64(), 0, 4 * 1024 * 1024);
        Assert.InRange(client.GetProperty("qos0_backlog_bytes").GetInt64(), 0, 4 * 1024 * 1024);
        Assert.True(client.GetProperty("mqueue_dropped").GetInt64() > 1000, client.ToString());
    }

    // Above overload_protection.high_watermark the alarm is raised ($SYS, API, ctl) and new connections are refused
    // (paho reads CONNACK 0x89 Server busy on MQTT 5, a closed connection on 3.1.1) while connected clients go on; once
    // the subscriber pinning the memory has gone, the alarm clears and connections are accepted again.
    [Fact]
    public async Task AboveHighWatermark_AlarmRaisedAndCleared_NewConnectionsRefusedMeanwhile_HealthyPairUnaffected()
    {
        await using var broker = await BrokerProcess.StartAsync(o =>
        {
            o["overload_protection.high_watermark"] = "8MB";
            o["overload_protection.low_watermark"] = "4MB";
            o["overload_protection.check_interval"] = "100ms";
            o["session.max_mqueue_bytes"] = "32MB";
            o["session.max_qos0_backlog_bytes"] = "32MB";
        });
        await using var alarms = await MosquittoClients.SubscribeAsync(broker, "-t", "$SYS/brokers/+/alarms/#");
        using var stopped = await StoppedSubscriber.ConnectAsync(broker, "stopped", "large/#");
        await broker.WaitForLogAsync(l => l.Contains("Client stopped (user", StringComparison.Ordinal), "the stopped subscriber");

        // The healthy pair connects first, then the flood starts; the pair runs through the overload and after it.
        var pairRun = HealthyPair.RunAsync(broker, "8s");
        await broker.WaitForLogAsync(l => l.Contains("-pub-0 (user", StringComparison.Ordinal), "the pair's publisher");
        var (pub, _) = LargeMessagesPub(broker, "large/x", 1, 1000);
        await using var flood = pub;

        var activated = await AlarmMessageAsync(alarms, "activate");
        Assert.Contains("\"name\":\"high_memory_usage\"", activated.Payload, StringComparison.Ordinal);

        var v5 = await Interop.ResultAsync(Interop.StartPaho("connect_once.py", broker, new { clientId = "late-v5", version = 5 }));
        Assert.Equal(0x89, v5.GetProperty("connack").GetInt32());
        var v3 = await Interop.ResultAsync(Interop.StartPaho("connect_once.py", broker, new { clientId = "late-v3", version = 4 }));
        Assert.True(v3.GetProperty("closed").GetBoolean(), v3.ToString());

        var list = await CtlRunner.RunAsync(broker, "alarms", "list");
        Assert.True(list.ExitCode == 0, list.Transcript);
        Assert.Contains("high_memory_usage", list.Stdout, StringComparison.Ordinal);
        Assert.Contains("active", list.Stdout, StringComparison.Ordinal);

        // The subscriber pinning the memory goes (clean session: its queue with it): the alarm clears.
        stopped.Dispose();
        var deactivated = await AlarmMessageAsync(alarms, "deactivate");
        Assert.Contains("\"deactivate_at\":", deactivated.Payload, StringComparison.Ordinal);
        var after = await Interop.ResultAsync(Interop.StartPaho("connect_once.py", broker, new { clientId = "after-v5", version = 5 }));
        Assert.Equal(0, after.GetProperty("connack").GetInt32());

        using var http = broker.CreateManagementClient();
        var api = JsonDocument.Parse(await http.GetStringAsync("api/v4/alarms", TestContext.Current.CancellationToken)).RootElement.GetProperty("data")[0].GetProperty("alarms");
        var alarm = Assert.Single(api.EnumerateArray());
        Assert.Equal("high_memory_usage", alarm.GetProperty("name").GetString());
        Assert.False(alarm.GetProperty("activated").GetBoolean());
        var metrics = JsonDocument.Parse(await http.GetStringAsync("api/v4/metrics", TestContext.Current.CancellationToken)).RootElement.GetProperty("data")[0].GetProperty("metrics");
        Assert.True(metrics.GetProperty("client.connect.refused_overload").GetInt64() >= 2);

        HealthyPair.AssertUnaffected(await pairRun);
    }
}
