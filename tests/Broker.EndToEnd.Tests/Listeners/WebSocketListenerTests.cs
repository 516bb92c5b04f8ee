using System.Net.WebSockets;
using System.Text;
using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests.Listeners;

/// <summary>MQTT over WebSocket (listener.ws.external, listener.wss.external): MQTT.js and a raw ClientWebSocket.</summary>
public sealed class WebSocketListenerTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private static async Task<BrokerProcess> StartWsAsync(Action<BrokerOptions>? configure = null) =>
        await BrokerProcess.StartAsync(o =>
        {
            o["listener.ws.external"] = "127.0.0.1:0";
            configure?.Invoke(o);
        });

    private static async Task<ClientWebSocket> OpenAsync(BrokerProcess broker, params string[] subprotocols)
    {
        var port = await broker.ListenerPortAsync("ws:external");
        var socket = new ClientWebSocket();
        foreach (var protocol in subprotocols)
            socket.Options.AddSubProtocol(protocol);
        await socket.ConnectAsync(new Uri($"ws://{broker.Host}:{port}/mqtt"), TestContext.Current.CancellationToken);
        return socket;
    }

    /// <summary>Reads messages until <paramref name="count"/> MQTT packets have arrived, however they were framed.</summary>
    private static async Task<List<RawPacket>> ReceivePacketsAsync(ClientWebSocket socket, int count)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(Timeout);
        var bytes = new List<byte>();
        var packets = new List<RawPacket>();
        var buffer = new byte[4096];
        while (packets.Count < count)
        {
            var result = await socket.ReceiveAsync(buffer, timeout.Token);
            Assert.True(result.MessageType == WebSocketMessageType.Binary, $"expected a binary frame [MQTT-6.0.0-1], got {result.MessageType} {socket.CloseStatus}");
            bytes.AddRange(buffer.AsSpan(0, result.Count));
            while (MqttBytes.TryParse(bytes, out var packet, out var consumed))
            {
                packets.Add(packet);
                bytes.RemoveRange(0, consumed);
            }
        }
        return packets;
    }

    [Fact]
    public async Task Ws_MqttJs_PublishesAndSubscribes()
    {
        await using var broker = await StartWsAsync();
        var port = await broker.ListenerPortAsync("ws:external");
        await using var script = Interop.StartNode("ws_pubsub.js", broker, new { url = $"ws://{broker.Host}:{port}/mqtt", count = 3 });
        var result = await Interop.ResultAsync(script);
        Assert.Equal(["m0", "m1", "m2"], result.GetProperty("received").EnumerateArray().Select(e => e.GetString()!).ToArray());
        Assert.Contains("Client ws-sub", broker.Transcript, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Wss_MqttJs_WithTestCa_PublishesAndSubscribes()
    {
        using var certs = TestCertificates.Create();
        await using var broker = await BrokerProcess.StartAsync(o => certs.Configure(o, "wss"));
        var port = await broker.ListenerPortAsync("wss:external");
        await using var script = Interop.StartNode("ws_pubsub.js", broker, new { url = $"wss://localhost:{port}/mqtt", ca = certs.CaFile, count = 3 });
        var result = await Interop.ResultAsync(script);
        Assert.Equal(["m0", "m1", "m2"], result.GetProperty("received").EnumerateArray().Select(e => e.GetString()!).ToArray());
    }

    [Fact]
    public async Task Ws_PacketSplitOverTwoFrames_AndTwoPacketsInOneFrame_AreFramedByMqttNotWebSocket()
    {
        await using var broker = await StartWsAsync();
        using var socket = await OpenAsync(broker, "mqtt");
        Assert.Equal("mqtt", socket.SubProtocol); // [MQTT-6.0.0-4]
        var ct = TestContext.Current.CancellationToken;

        // One CONNECT in two frames of one message, [MQTT-6.0.0-2]: the receiver must not assume packets align with frames.
        var connect = MqttBytes.ConnectPacket("ws-raw", MqttBytes.V5);
        await socket.SendAsync(connect.AsMemory(0, 5), WebSocketMessageType.Binary, endOfMessage: false, ct);
        await socket.SendAsync(connect.AsMemory(5), WebSocketMessageType.Binary, endOfMessage: true, ct);
        var connack = Assert.Single(await ReceivePacketsAsync(socket, 1));
        Assert.Equal(MqttBytes.Connack, connack.Type);
        Assert.Equal(0, MqttBytes.ConnackCode(connack));

        // SUBSCRIBE and the first half of a PUBLISH in one message, the rest of the PUBLISH in a second message.
        var subscribe = MqttBytes.SubscribePacket(1, "ws/raw", 0, MqttBytes.V5);
        var publish = MqttBytes.PublishPacket("ws/raw", "split", 0, 0, MqttBytes.V5);
        await socket.SendAsync((byte[])[.. subscribe, .. publish.AsSpan(0, 3)], WebSocketMessageType.Binary, endOfMessage: true, ct);
        await socket.SendAsync(publish.AsMemory(3), WebSocketMessageType.Binary, endOfMessage: true, ct);

        var packets = await ReceivePacketsAsync(socket, 2);
        Assert.Equal(MqttBytes.Suback, packets[0].Type);
        Assert.Equal(MqttBytes.Publish, packets[1].Type);
        Assert.Equal(("ws/raw", "split"), MqttBytes.ReadPublish(packets[1], MqttBytes.V5));
    }

    [Fact]
    public async Task Ws_TextFrame_ClosesTheConnection()
    {
        await using var broker = await StartWsAsync();
        using var socket = await OpenAsync(broker, "mqtt");
        var ct = TestContext.Current.CancellationToken;
        await socket.SendAsync(MqttBytes.ConnectPacket("ws-text", MqttBytes.V311), WebSocketMessageType.Binary, true, ct);
        Assert.Equal(MqttBytes.Connack, Assert.Single(await ReceivePacketsAsync(socket, 1)).Type);

        // [MQTT-6.0.0-1]: MQTT Control Packets are sent in binary frames; other data closes the Network Connection.
        await socket.SendAsync(Encoding.UTF8.GetBytes("hello"), WebSocketMessageType.Text, true, ct);

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(Timeout);
        var result = await socket.ReceiveAsync(new byte[64], timeout.Token);
        Assert.Equal(WebSocketMessageType.Close, result.MessageType);
        Assert.Equal(WebSocketCloseStatus.InvalidMessageType, socket.CloseStatus);
        await broker.WaitForLogAsync(l => l.Contains("Client ws-text disconnected", StringComparison.Ordinal), "the client's disconnect");
    }

    [Fact]
    public async Task Ws_Subprotocols_MqttAndMqttv31Accepted_OthersRefused()
    {
        await using var broker = await StartWsAsync();
        using (var v31 = await OpenAsync(broker, "mqttv3.1"))
            Assert.Equal("mqttv3.1", v31.SubProtocol);
        using (var preferred = await OpenAsync(broker, "foo", "mqtt"))
            Assert.Equal("mqtt", preferred.SubProtocol);

        // A client that does not offer mqtt breaks [MQTT-6.0.0-3]; fail_if_no_subprotocol (default true) refuses it.
        await Assert.ThrowsAsync<WebSocketException>(async () => { using var _ = await OpenAsync(broker, "foo"); });
        await Assert.ThrowsAsync<WebSocketException>(async () => { using var _ = await OpenAsync(broker); });
        await broker.WaitForLogAsync(l => l.Contains("no mqtt subprotocol offered", StringComparison.Ordinal), "the refusal");
    }

    [Fact]
    public async Task Ws_FailIfNoSubprotocolOff_ClientWithoutSubprotocolIsServed()
    {
        await using var broker = await StartWsAsync(o => o["listener.ws.external.fail_if_no_subprotocol"] = "false");
        using var socket = await OpenAsync(broker);
        Assert.Null(socket.SubProtocol);
        await socket.SendAsync(MqttBytes.ConnectPacket("ws-none", MqttBytes.V311), WebSocketMessageType.Binary, true, TestContext.Current.CancellationToken);
        Assert.Equal(MqttBytes.Connack, Assert.Single(await ReceivePacketsAsync(socket, 1)).Type);
    }
}
