using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests;

/// <summary>Start-up and shutdown of the broker process, as an operator meets them.</summary>
public sealed class LifecycleTests
{
    // 5.0 §4.13 / DISCONNECT 0x8B: a server that is shutting down tells MQTT 5 clients so before closing.
    [Fact]
    public async Task Sigterm_ConnectedClients_GetServerShuttingDownAndBrokerExitsZero()
    {
        await using var broker = await BrokerProcess.StartAsync();
        await using var v5 = await RawMqttClient.ConnectMqttAsync(broker, MqttBytes.ConnectPacket("shutdown-v5", MqttBytes.V5));
        await using var v311 = await RawMqttClient.ConnectMqttAsync(broker, MqttBytes.ConnectPacket("shutdown-v311"));

        broker.Signal("TERM");

        var v5Packets = await v5.WaitForCloseAsync(TimeSpan.FromSeconds(15));
        var disconnect = Assert.Single(v5Packets, p => p.Type == MqttBytes.Disconnect);
        Assert.Equal(0x8B, MqttBytes.ReasonCode(disconnect));
        Assert.DoesNotContain(await v311.WaitForCloseAsync(TimeSpan.FromSeconds(15)), p => p.Type == MqttBytes.Disconnect);
        Assert.Equal(0, await broker.WaitForExitAsync(TimeSpan.FromSeconds(15)));
    }

    [Fact]
    public async Task Start_BadConfigurationLine_RefusesToStartNamingFileLineAndKey()
    {
        var home = Directory.CreateTempSubdirectory("broker-e2e-conf-").FullName;
        try
        {
            var etc = Directory.CreateDirectory(Path.Combine(home, "etc")).FullName;
            await File.WriteAllTextAsync(Path.Combine(etc, "broker.conf"), "# comment\nmqtt.max_packet_size = 1MB\nsession.max_inflight = many\n", TestContext.Current.CancellationToken);
            await using var process = ChildProcess.Start("dotnet", [BrokerProcess.BrokerDll, "--home", home], workingDirectory: home);

            var exitCode = await process.WaitForExitAsync(TimeSpan.FromSeconds(30));

            Assert.NotEqual(0, exitCode);
            Assert.Contains(Path.Combine(etc, "broker.conf") + ":3: session.max_inflight", process.Transcript);
            Assert.DoesNotContain("Listener tcp:external started", process.Transcript);
        }
        finally
        {
            Directory.Delete(home, recursive: true);
        }
    }

    [Fact]
    public async Task Connect_BeyondListenerMaxConnections_ClosedWhileOthersKeepWorking()
    {
        await using var broker = await BrokerProcess.StartAsync(o => o["listener.tcp.external.max_connections"] = "2");
        await using var first = await RawMqttClient.ConnectMqttAsync(broker, MqttBytes.ConnectPacket("limit-1"));
        await using var second = await RawMqttClient.ConnectMqttAsync(broker, MqttBytes.ConnectPacket("limit-2"));

        await using var third = await RawMqttClient.ConnectAsync(broker);
        await third.SendAsync(MqttBytes.ConnectPacket("limit-3"));
        Assert.DoesNotContain(await third.WaitForCloseAsync(TimeSpan.FromSeconds(10)), p => p.Type == MqttBytes.Connack);

        await first.SendAsync(MqttBytes.Packet(0xC0, [])); // PINGREQ
        Assert.Equal(MqttBytes.Pingresp, (await first.ReceiveAsync(TimeSpan.FromSeconds(5))).Type);
    }
}
