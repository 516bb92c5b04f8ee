using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests;

/// <summary>
/// Issue 17 item 3: running out of file descriptors must never kill the broker. Before, a herd of connections larger
/// than `ulimit -n` ended it with "Out of memory." (exit 134) and every client with it.
/// </summary>
public sealed class FileDescriptorLimitTests
{
    [Fact]
    public async Task ConnectionHerdAboveTheLimit_BrokerAliveExistingClientServedNewOnesAcceptedAfter()
    {
        var home = Directory.CreateTempSubdirectory("broker-e2e-fd-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(home, "etc"));
            await File.WriteAllTextAsync(Path.Combine(home, "etc", "acl.conf"), "{allow, all}.\n", TestContext.Current.CancellationToken);
            var environment = new Dictionary<string, string>
            {
                ["BROKER_ALLOW_ANONYMOUS"] = "true",
                ["BROKER_LISTENER__TCP__EXTERNAL"] = "127.0.0.1:0",
                ["BROKER_MANAGEMENT__LISTENER"] = "127.0.0.1:0",
                // Not on their default ports, which another test's broker may hold.
                ["BROKER_LISTENER__SSL__EXTERNAL"] = "off",
                ["BROKER_LISTENER__WS__EXTERNAL"] = "off",
                ["BROKER_LISTENER__WSS__EXTERNAL"] = "off",
            };
            await using var broker = ChildProcess.Start("bash", ["-c", $"ulimit -n 400 && exec dotnet '{BrokerProcess.BrokerDll}' --home '{home}'"],
                environment: environment, workingDirectory: home);
            var started = await broker.WaitForLineAsync(l => l.Contains("Listener tcp:external started on ", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the listener");
            var port = started[(started.LastIndexOf(':') + 1)..].Trim();
            var mosquittoSub = Tools.Require("mosquitto_sub", "mosquitto-clients");
            var mosquittoPub = Tools.Require("mosquitto_pub", "mosquitto-clients");
            // stdbuf -oL: mosquitto_sub's lines are otherwise block-buffered into the pipe.
            await using var subscriber = ChildProcess.Start(Tools.Require("stdbuf", "coreutils"),
                ["-oL", mosquittoSub, "-h", "127.0.0.1", "-p", port, "-i", "healthy", "-t", "fd/t", "-q", "1", "-d"]);
            await subscriber.WaitForLineAsync(l => l.Contains("SUBACK", StringComparison.Ordinal), TimeSpan.FromSeconds(20), "the SUBACK");

            // A herd of 1.5 times the descriptor limit, twice.
            for (var herd = 0; herd < 2; herd++)
            {
                await using var bench = ChildProcess.Start("dotnet", [BenchRunner.BenchDll, "conn", "--connections", "600", "--conn-rate", "2000",
                    "--duration", "2s", "--host", "127.0.0.1", "--port", port, "--quiet"]);
                await bench.WaitForExitAsync(TimeSpan.FromSeconds(90));
                Assert.False(broker.HasExited, "the broker died under the herd:\n" + broker.Transcript);
            }

            // The client connected before the herds is still served, and a new one is accepted.
            await using var publisher = ChildProcess.Start(mosquittoPub, ["-h", "127.0.0.1", "-p", port, "-t", "fd/t", "-m", "after the herd", "-q", "1"]);
            Assert.Equal(0, await publisher.WaitForExitAsync(TimeSpan.FromSeconds(20)));
            await subscriber.WaitForLineAsync(l => l == "after the herd", TimeSpan.FromSeconds(20), "the message");
            Assert.Contains("what the file descriptor limit allows", broker.Transcript, StringComparison.Ordinal);
            Assert.DoesNotContain("Out of memory", broker.Transcript, StringComparison.Ordinal);
            broker.Signal("TERM");
            Assert.Equal(0, await broker.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        }
        finally
        {
            Directory.Delete(home, recursive: true);
        }
    }
}
