using Broker.EndToEnd.Tests.Infrastructure;
using static Broker.EndToEnd.Tests.Infrastructure.MqttBytes;

namespace Broker.EndToEnd.Tests;

/// <summary>Client identifiers: takeover of a session in use, zero-length identifiers.</summary>
public sealed class SessionTests
{
    // [MQTT-3.1.4-2] (3.1.1): a CONNECT with the client id of a connected client closes the existing one.
    [Fact]
    public async Task Connect_SameClientIdMqtt311_FirstConnectionClosed()
    {
        await using var broker = await BrokerProcess.StartAsync();
        await using var first = await RawMqttClient.ConnectMqttAsync(broker, ConnectPacket("twin", V311));
        await using var second = await RawMqttClient.ConnectMqttAsync(broker, ConnectPacket("twin", V311));

        await first.WaitForCloseAsync();
        await second.SendAsync(new byte[] { 0xC0, 0x00 });
        Assert.Equal(Pingresp, (await second.ReceiveAsync()).Type);
    }

    // [MQTT-3.1.4-3] (5.0): the existing connection gets DISCONNECT 0x8E Session taken over (seen by MQTT.js).
    [Fact]
    public async Task Connect_SameClientIdMqttJs_FirstGetsDisconnectSessionTakenOver()
    {
        await using var broker = await BrokerProcess.StartAsync();
        await using var script = Interop.StartNode("takeover.js", broker, new { clientId = "twin-js" });

        var result = await Interop.ResultAsync(script);

        Assert.True(result.GetProperty("secondConnected").GetBoolean(), script.Transcript);
        Assert.Equal(0x8E, result.GetProperty("disconnectReason").ValueKind == System.Text.Json.JsonValueKind.Number
            ? result.GetProperty("disconnectReason").GetInt32() : -1);
    }

    // [MQTT-3.1.4-3] (5.0) again, seen by Eclipse Paho: the first client is disconnected, the second is in.
    // Paho 1.6 (Debian 12) reports a server DISCONNECT's reason code only when the packet also carries
    // properties (remaining length > 2); otherwise it reports only the lost connection (7). So 0x8E is
    // checked whenever Paho could see it.
    [Fact]
    public async Task Connect_SameClientIdPaho_FirstDisconnectedSecondConnected()
    {
        await using var broker = await BrokerProcess.StartAsync();
        await using var script = Interop.StartPaho("takeover.py", broker, new { clientId = "twin-paho" });

        var result = await Interop.ResultAsync(script);

        Assert.True(result.GetProperty("secondConnected").GetBoolean(), script.Transcript);
        var reason = result.GetProperty("disconnectReason").GetInt32();
        const int connectionLost = 7;
        Assert.True(reason is 0x8E or connectionLost, $"first client's disconnect reason {reason}\n{script.Transcript}");
    }

    // [MQTT-3.1.3-8] (3.1.1): zero-length client id with CleanSession 0 -> CONNACK 0x02, then close.
    [Fact]
    public async Task Connect_EmptyClientIdPersistentMqtt311_RefusedIdentifierRejected()
    {
        await using var broker = await BrokerProcess.StartAsync();
        await using var client = await RawMqttClient.ConnectAsync(broker);

        await client.SendAsync(ConnectPacket("", V311, cleanStart: false));

        Assert.Equal(0x02, ConnackCode(await client.ReceiveAsync()));
        await client.WaitForCloseAsync(); // [MQTT-3.2.2-5]
    }

    // [MQTT-3.1.3-6] (3.1.1): zero-length client id with CleanSession 1 is accepted.
    [Fact]
    public async Task Connect_EmptyClientIdCleanMqtt311_Accepted()
    {
        await using var broker = await BrokerProcess.StartAsync();
        await using var client = await RawMqttClient.ConnectAsync(broker);

        await client.SendAsync(ConnectPacket("", V311, cleanStart: true));

        Assert.Equal(0x00, ConnackCode(await client.ReceiveAsync()));
    }

    // [MQTT-3.2.2-16] (5.0): a zero-length client id gets an Assigned Client Identifier in CONNACK.
    [Fact]
    public async Task Connect_EmptyClientIdMqtt5_AssignedClientIdentifierReturned()
    {
        await using var broker = await BrokerProcess.StartAsync();
        await using var client = await RawMqttClient.ConnectAsync(broker);

        await client.SendAsync(ConnectPacket("", V5, cleanStart: true));

        var connack = await client.ReceiveAsync();
        Assert.Equal(0x00, ConnackCode(connack));
        var assigned = Assert.IsType<string>(ConnackProperties(connack).GetValueOrDefault((byte)0x12), exactMatch: false);
        Assert.NotEmpty(assigned);
    }
}
