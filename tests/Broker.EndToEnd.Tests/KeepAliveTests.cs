using System.Diagnostics;
using System.Text.Json;
using Broker.EndToEnd.Tests.Infrastructure;
using static Broker.EndToEnd.Tests.Infrastructure.MqttBytes;

namespace Broker.EndToEnd.Tests;

/// <summary>
/// <c>mqtt.max_keepalive</c>, mosquitto 2's <c>max_keepalive</c> (mosquitto.conf(5)), set as every key is through
/// its environment variable (<c>BROKER_MQTT__MAX_KEEPALIVE</c>, which <see cref="BrokerProcess"/> passes).
/// </summary>
public sealed class KeepAliveTests
{
    // mosquitto.conf(5) max_keepalive: an MQTT 5 client asking for 0 or more than the maximum is sent the maximum as
    // Server Keep Alive [MQTT-3.2.2-21]; one at or below it keeps its own and is sent none [MQTT-3.2.2-22].
    [Theory]
    [InlineData(0, 30)]
    [InlineData(600, 30)]
    [InlineData(30, null)]
    [InlineData(20, null)]
    public async Task MaxKeepAlive_MqttJs_ToldTheMaximumOnlyWhenAboveOrZero(int keepAlive, int? told)
    {
        await using var broker = await BrokerProcess.StartAsync(o => o["mqtt.max_keepalive"] = "30");
        await using var script = Interop.StartNode("keepalive.js", broker, new { keepalive = keepAlive });

        var result = await Interop.ResultAsync(script);

        var serverKeepAlive = result.GetProperty("serverKeepAlive");
        Assert.Equal(told, serverKeepAlive.ValueKind == JsonValueKind.Null ? null : serverKeepAlive.GetInt32());
    }

    // [MQTT-3.1.2-22] (5.0): the server enforces 1.5 times the keep-alive in use, here the Server Keep Alive it sent a
    // client that asked for none (0); the close carries DISCONNECT 0x8D Keep Alive timeout.
    [Fact]
    public async Task MaxKeepAlive_V5ClientAskingForNone_HeldToTheMaximum()
    {
        await using var broker = await BrokerProcess.StartAsync(o => o["mqtt.max_keepalive"] = "1");
        await using var client = await RawMqttClient.ConnectAsync(broker);
        // The broker counts from the CONNECT it read, which cannot be before it was sent; the CONNACK may come
        // later (a cold broker's first connect compiles its path), so counting from the CONNACK would be too late.
        var sentAt = Stopwatch.GetTimestamp();
        await client.SendAsync(ConnectPacket("silent", V5, keepAlive: 0));
        var connack = await client.ReceiveAsync(Connack);
        Assert.Equal(0, ConnackCode(connack));
        Assert.Equal(1L, Convert.ToInt64(ConnackProperties(connack)[0x13]));

        var before = await client.WaitForCloseAsync(TimeSpan.FromSeconds(5));

        var elapsed = Stopwatch.GetElapsedTime(sentAt, client.ClosedAt);
        Assert.True(elapsed >= TimeSpan.FromSeconds(1.5), $"closed {elapsed.TotalSeconds:0.00} s after the CONNECT was sent, before 1.5 x 1 s");
        Assert.Equal(0x8D, ReasonCode(Assert.Single(before, p => p.Type == Disconnect)));
    }

    // mosquitto 2.0.12 ChangeLog ("Fix max_keepalive not applying to MQTT v3.1.1 and v3.1 connections. These clients
    // are now rejected if their keepalive value exceeds max_keepalive"): CONNACK return code 2 (identifier rejected),
    // then the connection is closed. mosquitto_pub reports it.
    [Fact]
    public async Task MaxKeepAlive_MosquittoPubV311AboveTheMaximum_RefusedIdentifierRejected()
    {
        await using var broker = await BrokerProcess.StartAsync(o => o["mqtt.max_keepalive"] = "30");
        await using var pub = MosquittoClients.StartPub(broker, ["-V", "mqttv311", "-k", "60", "-t", "ka/t", "-m", "x"]);

        var code = await pub.WaitForExitAsync(MosquittoClients.Timeout);

        Assert.NotEqual(0, code);
        Assert.Contains("identifier rejected", pub.Transcript, StringComparison.OrdinalIgnoreCase);
    }

    // mosquitto's handle_connect.c (2.0.12 and later) refuses a keep-alive of 0 like one above max_keepalive: the
    // client would never be checked. mosquitto_pub cannot send 0 (its minimum is 5), so a raw client does.
    [Fact]
    public async Task MaxKeepAlive_V311KeepAliveZero_RefusedIdentifierRejectedAndClosed()
    {
        await using var broker = await BrokerProcess.StartAsync(o => o["mqtt.max_keepalive"] = "30");
        await using var client = await RawMqttClient.ConnectAsync(broker);
        await client.SendAsync(ConnectPacket("ka-zero", V311, keepAlive: 0));

        var before = await client.WaitForCloseAsync();

        Assert.Equal(2, ConnackCode(Assert.Single(before)));
    }

    [Fact]
    public async Task MaxKeepAlive_MosquittoPubV311AtTheMaximum_Publishes()
    {
        await using var broker = await BrokerProcess.StartAsync(o => o["mqtt.max_keepalive"] = "30");

        await MosquittoClients.PublishAsync(broker, ["-V", "mqttv311", "-k", "30", "-t", "ka/t", "-m", "x"]);
    }
}
