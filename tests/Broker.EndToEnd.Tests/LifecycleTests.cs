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

    /// <summary>Starts a broker home with its own process and environment; the listeners on free ports unless set.</summary>
    private static async Task<(int ExitCode, string Transcript)> RunUntilExitAsync(Dictionary<string, string> environment)
    {
        var home = Directory.CreateTempSubdirectory("broker-e2e-start-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(home, "etc"));
            await File.WriteAllTextAsync(Path.Combine(home, "etc", "acl.conf"), "{allow, all}.\n", TestContext.Current.CancellationToken);
            // Only the listener under test on a taken port: the others on free ports or off, never on their defaults
            // (8883, 8083, 8084), which another test's broker may hold.
            environment.TryAdd("BROKER_LISTENER__TCP__EXTERNAL", "127.0.0.1:0");
            environment.TryAdd("BROKER_MANAGEMENT__LISTENER", "127.0.0.1:0");
            environment.TryAdd("BROKER_LISTENER__SSL__EXTERNAL", "off");
            environment.TryAdd("BROKER_LISTENER__WS__EXTERNAL", "off");
            environment.TryAdd("BROKER_LISTENER__WSS__EXTERNAL", "off");
            await using var process = ChildProcess.Start("dotnet", [BrokerProcess.BrokerDll, "--home", home], workingDirectory: home, environment: environment);
            var exitCode = await process.WaitForExitAsync(TimeSpan.FromSeconds(30));
            return (exitCode, process.Transcript);
        }
        finally
        {
            Directory.Delete(home, recursive: true);
        }
    }

    // Issue 17 item 6: an address in use, for the management API or any MQTT listener, is one line naming the key and
    // the address, and exit status 2; never a stack trace.
    [Theory]
    [InlineData("BROKER_MANAGEMENT__LISTENER", "management.listener")]
    [InlineData("BROKER_LISTENER__TCP__EXTERNAL", "listener.tcp.external")]
    [InlineData("BROKER_LISTENER__SSL__EXTERNAL", "listener.ssl.external")]
    [InlineData("BROKER_LISTENER__WS__EXTERNAL", "listener.ws.external")]
    public async Task Start_AddressInUse_OneLineNamingKeyAndAddress_ExitTwo(string variable, string key)
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var address = $"127.0.0.1:{((System.Net.IPEndPoint)taken.LocalEndpoint).Port}";

        var (exitCode, transcript) = await RunUntilExitAsync(new() { [variable] = address });

        Assert.Equal(2, exitCode);
        Assert.Matches($@"broker: not starting: {System.Text.RegularExpressions.Regex.Escape(key)} = {address}: cannot listen: .+", transcript);
        Assert.DoesNotContain("   at ", transcript, StringComparison.Ordinal);
    }

    // A misspelt BROKER_* variable is not silently ignored: a warning names it and the closest key. Plugins' variables
    // (BROKER_PLUGINS__<NAME>__...) belong to their .conf and are not warned about.
    [Fact]
    public async Task Start_UnknownEnvironmentVariable_WarnsWithClosestKey()
    {
        await using var broker = await BrokerProcess.StartAsync(o =>
        {
            o["mqtt.max_paket_size"] = "2MB"; // passed as BROKER_MQTT__MAX_PAKET_SIZE
            o["plugins.retainer.max_retained_messages"] = "10";
        });

        await broker.WaitForLogAsync(l => l.Contains("environment variable BROKER_MQTT__MAX_PAKET_SIZE sets no known key (mqtt.max_paket_size); did you mean BROKER_MQTT__MAX_PACKET_SIZE (mqtt.max_packet_size)?", StringComparison.Ordinal),
            "the warning");
        Assert.DoesNotContain("BROKER_PLUGINS__RETAINER", broker.Transcript, StringComparison.Ordinal);
    }
}
