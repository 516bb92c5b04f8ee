using System.Diagnostics;
using Broker.EndToEnd.Tests.Infrastructure;
using static Broker.EndToEnd.Tests.Infrastructure.MqttBytes;

namespace Broker.EndToEnd.Tests;

/// <summary>
/// Malformed packets, protocol errors, timeouts and size limits close only the offending connection:
/// a bystander connected to the same broker keeps receiving.
/// </summary>
public sealed class ProtocolViolationTests
{
    public static TheoryData<string, byte> Violations()
    {
        var data = new TheoryData<string, byte>();
        foreach (var name in new[] { "subscribe-reserved-flags", "publish-qos-3", "remaining-length-5-bytes", "second-connect", "publish-wildcard-topic" })
        {
            data.Add(name, V311);
            data.Add(name, V5);
        }

        return data;
    }

    // [MQTT-3.8.1-1] SUBSCRIBE flags must be 0010; [MQTT-3.3.1-4] QoS 3 is malformed; §2.2.3 / §1.5.5 the
    // remaining length has at most 4 bytes; [MQTT-3.1.0-2] a second CONNECT is a protocol violation;
    // [MQTT-3.3.2-2] a PUBLISH topic has no wildcards. [MQTT-4.8.0-1] (3.1.1) / [MQTT-4.13.1-1] (5.0):
    // the server closes the connection, under 5.0 after DISCONNECT 0x81 Malformed / 0x82 Protocol error.
    [Theory]
    [MemberData(nameof(Violations))]
    public async Task Violation_OnOneConnection_ClosesOnlyThatConnection(string violation, byte version)
    {
        await using var broker = await BrokerProcess.StartAsync();
        await using var bystander = await ConnectBystanderAsync(broker);
        await using var offender = await RawMqttClient.ConnectMqttAsync(broker, ConnectPacket("offender", version));

        byte[] bytes = violation switch
        {
            "subscribe-reserved-flags" => WithHeader(SubscribePacket(1, "a/b", 0, version), 0x80),
            "publish-qos-3" => WithHeader(PublishPacket("a/b", "x", 1, 1, version), 0x36),
            "remaining-length-5-bytes" => [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
            "second-connect" => ConnectPacket("offender", version),
            "publish-wildcard-topic" => PublishPacket("a/+/c", "x", 0, 0, version),
            _ => throw new ArgumentOutOfRangeException(nameof(violation)),
        };
        await offender.SendAsync(bytes);

        var before = await offender.WaitForCloseAsync();
        // 4.13.1: 0x82 for the one Protocol Error [MQTT-3.1.0-2], 0x81 for the Malformed Packets.
        byte[] expected = violation == "second-connect" ? [0x82] : [0x81];
        AssertDisconnectBeforeClose(broker, version, before, expected);
        await AssertBystanderStillServedAsync(broker, bystander);
    }

    // No numbered statement (3.1.1 §3.1 / 5.0 §3.1: the first packet is CONNECT, a server closes a connection
    // that sends none "within a reasonable time"): mqtt.idle_timeout bounds that time.
    [Fact]
    public async Task Connect_NothingSentWithinIdleTimeout_ConnectionClosed()
    {
        await using var broker = await BrokerProcess.StartAsync(o => o["mqtt.idle_timeout"] = "1s");
        var start = Stopwatch.GetTimestamp();
        await using var silent = await RawMqttClient.ConnectAsync(broker);

        await silent.WaitForCloseAsync(TimeSpan.FromSeconds(6));

        var elapsed = Stopwatch.GetElapsedTime(start, silent.ClosedAt);
        Assert.True(elapsed >= TimeSpan.FromSeconds(0.8), $"closed after {elapsed.TotalSeconds:0.00} s, before the 1 s idle timeout");
    }

    // [MQTT-3.1.2-24]: no packet within 1.5 x keep-alive -> the server disconnects, as a network failure,
    // so the will is published ([MQTT-3.1.2-8]).
    [Theory]
    [InlineData(V311)]
    [InlineData(V5)]
    public async Task KeepAlive_ClientSilentForOneAndAHalfIntervals_DisconnectedAndWillPublished(byte version)
    {
        await using var broker = await BrokerProcess.StartAsync(o => o["mqtt.server_keepalive"] = "0");
        var willTopic = $"will/keepalive/{version}";
        await using var watcher = await MosquittoClients.SubscribeAsync(broker, "-q", "1", "-t", willTopic);
        await using var silent = await RawMqttClient.ConnectMqttAsync(
            broker, ConnectPacket($"silent-{version}", version, keepAlive: 1, will: new Will(willTopic, "timed out", 1)));
        var connectedAt = Stopwatch.GetTimestamp();

        await silent.WaitForCloseAsync(TimeSpan.FromSeconds(5));

        var elapsed = Stopwatch.GetElapsedTime(connectedAt, silent.ClosedAt);
        Assert.True(elapsed >= TimeSpan.FromSeconds(0.9), $"closed after {elapsed.TotalSeconds:0.00} s, within the keep-alive");
        Assert.True(elapsed <= TimeSpan.FromSeconds(1.5 + 1.5), $"closed only after {elapsed.TotalSeconds:0.00} s (limit 1.5 s + margin)");
        var will = Assert.Single(await MosquittoClients.MessagesAsync(watcher, 1));
        Assert.Equal("timed out", will.Payload);
    }

    // 5.0 §3.2.2.3.6 Maximum Packet Size: CONNACK announces mqtt.max_packet_size; a client must not exceed it
    // ([MQTT-3.2.2-15]), and a server receiving a larger packet closes the connection, under 5.0 after
    // DISCONNECT 0x95 Packet too large.
    [Theory]
    [InlineData(V311)]
    [InlineData(V5)]
    public async Task Publish_LargerThanMaxPacketSize_ConnectionClosed(byte version)
    {
        await using var broker = await BrokerProcess.StartAsync(o => o["mqtt.max_packet_size"] = "1MB");
        await using var bystander = await ConnectBystanderAsync(broker);
        await using var offender = await RawMqttClient.ConnectAsync(broker);
        await offender.SendAsync(ConnectPacket($"big-{version}", version));
        var connack = await offender.ReceiveAsync(Connack);
        Assert.Equal(0, ConnackCode(connack));
        if (version == V5)
        {
            Assert.Equal(1024L * 1024, ConnackProperties(connack).GetValueOrDefault((byte)0x27));
        }

        await offender.SendAsync(PublishPacket("big/t", new byte[1024 * 1024 + 100_000], 0, 0, version));

        var before = await offender.WaitForCloseAsync();
        AssertDisconnectBeforeClose(broker, version, before, [0x95]);
        await AssertBystanderStillServedAsync(broker, bystander);
    }

    private static async Task<RawMqttClient> ConnectBystanderAsync(BrokerProcess broker)
    {
        var bystander = await RawMqttClient.ConnectMqttAsync(broker, ConnectPacket("bystander", V311));
        await bystander.SendAsync(SubscribePacket(1, "bystander/t", 0));
        Assert.Equal(new byte[] { 0 }, SubackCodes(await bystander.ReceiveAsync(Suback), V311));
        return bystander;
    }

    private static async Task AssertBystanderStillServedAsync(BrokerProcess broker, RawMqttClient bystander)
    {
        await MosquittoClients.PublishAsync(broker, ["-t", "bystander/t", "-m", "still here"]);
        var publish = await bystander.ReceiveAsync(Publish);
        Assert.Equal(("bystander/t", "still here"), ReadPublish(publish, V311));
    }

    private static void AssertDisconnectBeforeClose(BrokerProcess broker, byte version, IReadOnlyList<RawPacket> before, byte[] allowed)
    {
        var disconnect = before.FirstOrDefault(p => p.Type == Disconnect);
        var others = before.Where(p => p.Type is not (Disconnect or Pingresp)).ToList();
        Assert.True(others.Count == 0, $"unexpected packets before close: {string.Join(", ", others)}");
        if (version != V5)
        {
            Assert.Null(disconnect); // 3.1.1 has no server DISCONNECT
            return;
        }

        // mosquitto (used only to develop these tests) often just closes; our broker must say why.
        if (disconnect is null && broker.IsMosquitto)
        {
            return;
        }

        Assert.True(disconnect is not null, "MQTT 5: no DISCONNECT with a reason code before the close");
        Assert.Contains(ReasonCode(disconnect), allowed);
    }

    private static byte[] WithHeader(byte[] packet, byte header)
    {
        packet[0] = header;
        return packet;
    }
}
