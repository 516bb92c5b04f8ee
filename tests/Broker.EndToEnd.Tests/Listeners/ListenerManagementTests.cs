using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text.Json;
using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests.Listeners;

/// <summary>GET /api/v4/listeners, PUT /api/v4/listeners/{id}/stop|restart and `ctl listeners`.</summary>
public sealed class ListenerManagementTests
{
    /// <summary>
    /// A listener that is stopped and restarted gets a port below the ephemeral range (<see cref="FreePorts"/>): one the
    /// kernel chose (127.0.0.1:0) may become another test's client port while it is closed (a full run failed so:
    /// "cannot listen: Address already in use").
    /// </summary>
    private static void OnAPortOfItsOwn(BrokerOptions o) => o["listener.tcp.external"] = "127.0.0.1:" + FreePorts.Next().ToString(System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task MaxConnections_HoweverAConnectionEnds_ItsPlaceIsFreeForTheNext()
    {
        await using var broker = await BrokerProcess.StartAsync(o => o["listener.tcp.external.max_connections"] = "1");
        using var http = broker.CreateManagementClient();

        // The client says DISCONNECT.
        await using (var client = await RawMqttClient.ConnectMqttAsync(broker, MqttBytes.ConnectPacket("place-1")))
        {
            await client.SendAsync(MqttBytes.DisconnectPacket());
            await client.WaitForCloseAsync();
        }
        Assert.Equal(0, await ManagementHttp.CurrentConnectionsAsync(http, "mqtt:tcp:external", 0));

        // The client drops the socket.
        await (await RawMqttClient.ConnectMqttAsync(broker, MqttBytes.ConnectPacket("place-2"))).DisposeAsync();
        Assert.Equal(0, await ManagementHttp.CurrentConnectionsAsync(http, "mqtt:tcp:external", 0));

        // The broker closes it: a PUBLISH with QoS 3 is malformed [MQTT-3.3.1-4].
        await using (var client = await RawMqttClient.ConnectMqttAsync(broker, MqttBytes.ConnectPacket("place-3")))
        {
            await client.SendAsync(new byte[] { 0x36, 0x00 });
            await client.WaitForCloseAsync();
        }
        Assert.Equal(0, await ManagementHttp.CurrentConnectionsAsync(http, "mqtt:tcp:external", 0));

        // Three connections have come and gone under a limit of one: the fourth is still accepted.
        await using var last = await RawMqttClient.ConnectMqttAsync(broker, MqttBytes.ConnectPacket("place-4"));
        Assert.Equal(1, await ManagementHttp.CurrentConnectionsAsync(http, "mqtt:tcp:external", 1));
    }

    [Fact]
    public async Task GetListeners_ListsEveryEnabledListenerInEmqxShape()
    {
        await using var broker = await BrokerProcess.StartAsync(o => o["listener.ws.external"] = "127.0.0.1:0");
        var wsPort = await broker.ListenerPortAsync("ws:external");
        await using var client = await RawMqttClient.ConnectMqttAsync(broker, MqttBytes.ConnectPacket("counted"));
        using var http = broker.CreateManagementClient();

        var listeners = await ManagementHttp.ListenersAsync(http);
        Assert.Equal(["mqtt:tcp:external", "mqtt:ws:external"], listeners.EnumerateArray().Select(l => l.GetProperty("identifier").GetString()!).ToArray());
        var tcp = ManagementHttp.Listener(listeners, "mqtt:tcp:external");
        Assert.Equal("mqtt:tcp", tcp.GetProperty("protocol").GetString());
        Assert.Equal($"{broker.Host}:{broker.Port}", tcp.GetProperty("listen_on").GetString());
        Assert.Equal(1, tcp.GetProperty("current_conns").GetInt32());
        Assert.Equal(102400, tcp.GetProperty("max_conns").GetInt32());
        Assert.True(tcp.GetProperty("running").GetBoolean());
        Assert.Equal(JsonValueKind.Object, tcp.GetProperty("shutdown_count").ValueKind);
        Assert.Equal($"{broker.Host}:{wsPort}", ManagementHttp.Listener(listeners, "mqtt:ws:external").GetProperty("listen_on").GetString());
    }

    [Fact]
    public async Task StopThenRestart_ClosesSocketAndDisconnectsClients_ThenReopensOnTheSameAddress()
    {
        await using var broker = await BrokerProcess.StartAsync(OnAPortOfItsOwn);
        await using var client = await RawMqttClient.ConnectMqttAsync(broker, MqttBytes.ConnectPacket("stopped-v5", MqttBytes.V5));
        using var http = broker.CreateManagementClient();

        using (var stop = await http.PutAsync("api/v4/listeners/mqtt:tcp:external/stop", null, TestContext.Current.CancellationToken))
            Assert.Equal(HttpStatusCode.OK, stop.StatusCode);

        // Its client was sent DISCONNECT 0x8B (server shutting down) and closed; the port no longer accepts.
        var last = await client.WaitForCloseAsync();
        var disconnect = Assert.Single(last, p => p.Type == MqttBytes.Disconnect);
        Assert.Equal(0x8B, MqttBytes.ReasonCode(disconnect));
        await Assert.ThrowsAsync<SocketException>(async () => await RawMqttClient.ConnectAsync(broker));
        var listener = ManagementHttp.Listener(await ManagementHttp.ListenersAsync(http), "mqtt:tcp:external");
        Assert.False(listener.GetProperty("running").GetBoolean());
        Assert.Equal(1, listener.GetProperty("shutdown_count").GetProperty("listener_stopped").GetInt64());

        // Stopping it again is a conflict; the management API itself is unaffected (it answered all of this).
        using (var again = await http.PutAsync("api/v4/listeners/mqtt:tcp:external/stop", null, TestContext.Current.CancellationToken))
            Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);

        using (var restart = await http.PutAsync("api/v4/listeners/mqtt:tcp:external/restart", null, TestContext.Current.CancellationToken))
            Assert.Equal(HttpStatusCode.OK, restart.StatusCode);
        await using var back = await RawMqttClient.ConnectMqttAsync(broker, MqttBytes.ConnectPacket("after-restart"));
        Assert.True(ManagementHttp.Listener(await ManagementHttp.ListenersAsync(http), "mqtt:tcp:external").GetProperty("running").GetBoolean());
    }

    private static async Task<ClientWebSocket> OpenWsAsync(BrokerProcess broker, int port)
    {
        var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol("mqtt");
        await socket.ConnectAsync(new Uri($"ws://{broker.Host}:{port}/mqtt"), TestContext.Current.CancellationToken);
        return socket;
    }

    private static async Task<RawPacket> ReceiveOneAsync(ClientWebSocket socket)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        var bytes = new List<byte>();
        var buffer = new byte[1024];
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, timeout.Token);
            Assert.Equal(WebSocketMessageType.Binary, result.MessageType);
            bytes.AddRange(buffer.AsSpan(0, result.Count));
            if (MqttBytes.TryParse(bytes, out var packet, out _))
                return packet;
        }
    }

    [Fact]
    public async Task StopWsListener_WebSocketClientGetsDisconnect0x8BAndClose_OtherListenersKeepServing()
    {
        await using var broker = await BrokerProcess.StartAsync(o => o["listener.ws.external"] = "127.0.0.1:0");
        var port = await broker.ListenerPortAsync("ws:external");
        using var socket = await OpenWsAsync(broker, port);
        await socket.SendAsync(MqttBytes.ConnectPacket("ws-stopped", MqttBytes.V5), WebSocketMessageType.Binary, true, TestContext.Current.CancellationToken);
        Assert.Equal(MqttBytes.Connack, (await ReceiveOneAsync(socket)).Type);
        using var http = broker.CreateManagementClient();

        using (var stop = await http.PutAsync("api/v4/listeners/mqtt:ws:external/stop", null, TestContext.Current.CancellationToken))
            Assert.Equal(HttpStatusCode.OK, stop.StatusCode);

        var disconnect = await ReceiveOneAsync(socket);
        Assert.Equal(MqttBytes.Disconnect, disconnect.Type);
        Assert.Equal(0x8B, MqttBytes.ReasonCode(disconnect));
        await using var tcp = await RawMqttClient.ConnectMqttAsync(broker, MqttBytes.ConnectPacket("tcp-still-open"));
    }

    [Fact]
    public async Task WsMaxConnections_HandshakeBeyondItIsRefused_AndCounted()
    {
        await using var broker = await BrokerProcess.StartAsync(o =>
        {
            o["listener.ws.external"] = "127.0.0.1:0";
            o["listener.ws.external.max_connections"] = "1";
        });
        var port = await broker.ListenerPortAsync("ws:external");
        using var first = await OpenWsAsync(broker, port);

        await Assert.ThrowsAsync<WebSocketException>(async () => { using var _ = await OpenWsAsync(broker, port); });

        using var http = broker.CreateManagementClient();
        var ws = ManagementHttp.Listener(await ManagementHttp.ListenersAsync(http), "mqtt:ws:external");
        Assert.Equal(1, ws.GetProperty("current_conns").GetInt32());
        Assert.Equal(1, ws.GetProperty("shutdown_count").GetProperty("max_connections").GetInt64());
    }

    [Fact]
    public async Task StopUnknownListener_Is404()
    {
        await using var broker = await BrokerProcess.StartAsync();
        using var http = broker.CreateManagementClient();
        using var answer = await http.PutAsync("api/v4/listeners/mqtt:tcp:nope/stop", null, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.NotFound, answer.StatusCode);
    }

    [Fact]
    public async Task Ctl_ListenersListStopRestart_TablesJsonAndExitCodes()
    {
        await using var broker = await BrokerProcess.StartAsync(OnAPortOfItsOwn);

        var list = await CtlRunner.RunAsync(broker, "listeners", "list");
        Assert.True(list.ExitCode == 0, list.Transcript);
        Assert.Contains("ID", list.Stdout, StringComparison.Ordinal);
        Assert.Contains("mqtt:tcp:external", list.Stdout, StringComparison.Ordinal);
        Assert.Contains($"{broker.Host}:{broker.Port}", list.Stdout, StringComparison.Ordinal);

        var json = await CtlRunner.RunAsync(broker, "listeners", "list", "--json");
        Assert.True(json.ExitCode == 0, json.Transcript);
        Assert.Equal("mqtt:tcp:external", JsonDocument.Parse(json.Stdout).RootElement.GetProperty("data")[0].GetProperty("listeners")[0].GetProperty("identifier").GetString());

        var stop = await CtlRunner.RunAsync(broker, "listeners", "stop", "mqtt:tcp:external");
        Assert.True(stop.ExitCode == 0, stop.Transcript);
        Assert.Contains("Listener mqtt:tcp:external stopped", stop.Stdout, StringComparison.Ordinal);
        await Assert.ThrowsAsync<SocketException>(async () => await RawMqttClient.ConnectAsync(broker));

        var stopAgain = await CtlRunner.RunAsync(broker, "listeners", "stop", "mqtt:tcp:external");
        Assert.Equal(1, stopAgain.ExitCode);

        var restart = await CtlRunner.RunAsync(broker, "listeners", "restart", "mqtt:tcp:external");
        Assert.True(restart.ExitCode == 0, restart.Transcript);
        await using var back = await RawMqttClient.ConnectMqttAsync(broker, MqttBytes.ConnectPacket("ctl-restarted"));

        var unknown = await CtlRunner.RunAsync(broker, "listeners", "restart", "mqtt:tcp:nope");
        Assert.Equal(1, unknown.ExitCode);

        var help = await CtlRunner.RunAsync(broker, "listeners", "--help");
        foreach (var verb in new[] { "list", "stop", "restart" })
            Assert.Contains(verb, help.Stdout, StringComparison.Ordinal);
    }
}
