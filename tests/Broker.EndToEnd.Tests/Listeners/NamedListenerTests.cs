using System.Globalization;
using System.Text.Json;
using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests.Listeners;

/// <summary>
/// Named listeners (issue 18 item 4): EMQX's <c>listener.tcp.internal</c> beside <c>listener.tcp.external</c>, each with
/// its own address and limits, listed and stopped on its own, on the real broker with real clients.
/// </summary>
public sealed class NamedListenerTests
{
    [Fact]
    public async Task InternalTcpListener_BesideExternal_OwnLimitAndStop_MessagesCrossBetweenThem()
    {
        await using var broker = await BrokerProcess.StartAsync(o =>
        {
            o["listener.tcp.internal"] = "127.0.0.1:0";
            o["listener.tcp.internal.max_connections"] = "1";
        });
        var internalPort = (await broker.ListenerPortAsync("tcp:internal")).ToString(CultureInfo.InvariantCulture);

        // internal's max_connections = 1 holds there only: a second client on it is closed, external takes more.
        // (One client throughout: a client that just left may still be counted for a moment after its socket closed.)
        await using var held = await RawMqttClient.ConnectAsync(broker.Host, int.Parse(internalPort, CultureInfo.InvariantCulture));
        await held.SendAsync(MqttBytes.ConnectPacket("holder"));
        Assert.Equal(0, MqttBytes.ConnackCode(await held.ReceiveAsync(MqttBytes.Connack)));
        await using (var second = await RawMqttClient.ConnectAsync(broker.Host, int.Parse(internalPort, CultureInfo.InvariantCulture)))
        {
            await second.SendAsync(MqttBytes.ConnectPacket("one-too-many"));
            Assert.Null(await second.ReceiveOrCloseAsync(TimeSpan.FromSeconds(10)));
        }

        // A subscriber on external (mosquitto_sub) gets what the client on internal publishes.
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-t", "cross/#", "-q", "1", "-i", "on-external");
        await held.SendAsync(MqttBytes.PublishPacket("cross/x", "via-internal"));
        Assert.Equal("via-internal", (await MosquittoClients.MessagesAsync(sub, 1))[0].Payload);
        await using (await RawMqttClient.ConnectMqttAsync(broker, MqttBytes.ConnectPacket("external-ok")))
        {
        }

        // Listed, and stopped on its own: its client goes, external's subscriber stays.
        var list = await CtlRunner.RunAsync(broker, "--json", "listeners", "list");
        Assert.True(list.ExitCode == 0, list.Transcript);
        var identifiers = JsonDocument.Parse(list.Stdout).RootElement.GetProperty("data")[0].GetProperty("listeners")
            .EnumerateArray().Select(l => l.GetProperty("identifier").GetString()).ToList();
        Assert.Contains("mqtt:tcp:internal", identifiers);
        Assert.Contains("mqtt:tcp:external", identifiers);
        var stop = await CtlRunner.RunAsync(broker, "listeners", "stop", "mqtt:tcp:internal");
        Assert.True(stop.ExitCode == 0, stop.Transcript);
        await held.WaitForCloseAsync();
        await MosquittoClients.PublishAsync(broker, ["-t", "cross/y", "-q", "1", "-m", "still-here"]);
        Assert.Equal("still-here", (await MosquittoClients.MessagesAsync(sub, 2))[1].Payload);
    }

    [Fact]
    public async Task NamedListener_MisspeltKey_StopsStartUpNamingFileLineAndKey()
    {
        var home = Directory.CreateTempSubdirectory("broker-e2e-named-").FullName;
        try
        {
            var etc = Directory.CreateDirectory(Path.Combine(home, "etc")).FullName;
            await File.WriteAllTextAsync(Path.Combine(etc, "broker.conf"),
                "listener.tcp.internal = 127.0.0.1:0\nlistener.tcp.internal.max_conection = 5\n", TestContext.Current.CancellationToken);
            await using var process = ChildProcess.Start("dotnet", [BrokerProcess.BrokerDll, "--home", home], workingDirectory: home);

            Assert.NotEqual(0, await process.WaitForExitAsync(TimeSpan.FromSeconds(30)));
            Assert.Contains(Path.Combine(etc, "broker.conf") + ":2: listener.tcp.internal.max_conection", process.Transcript, StringComparison.Ordinal);
            Assert.Contains("did you mean listener.tcp.internal.max_connections?", process.Transcript, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(home, recursive: true);
        }
    }
}
