using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests;

/// <summary>
/// Issue 3's bar for hot reload: plugins come and go while clients stay connected, and reload never opens a
/// window in which a plugin's hooks are missing.
/// </summary>
public sealed class PluginReloadUnderLoadTests
{
    private const int Reloads = 20;

    private static Task<BrokerProcess> StartWithHelloAsync() => BrokerProcess.StartAsync(o =>
    {
        o.HomeContent["plugins/hello"] = TestPlugins.OutputOf("TestPlugins.Hello");
        o.LoadedPlugins.Add("hello");
        // The auth storm refuses the same user from one address many times: what is under test here is that reloads
        // never let it in, so its logins are neither held nor banned (login_failure.*, tested in LoginFloodTests).
        o["login_failure.delay_after"] = "0";
        o["login_failure.ban_after"] = "0";
    });

    private static async Task ReloadManyTimesAsync(BrokerProcess broker)
    {
        for (var i = 0; i < Reloads; i++)
        {
            var reload = await CtlRunner.RunAsync(broker, "plugins", "reload", "hello");
            Assert.True(reload.ExitCode == 0, $"reload {i + 1}: {reload.Transcript}");
        }
    }

    [Fact]
    public async Task Reload20Times_50Qos1Publishers_NoMessageLostNoClientDisconnected()
    {
        await using var broker = await StartWithHelloAsync();
        await using var load = Interop.StartNode("reload_publishers.js", broker, new { publishers = 50, greeting = "hello", timeoutSeconds = 240 });
        await Interop.WaitForEventAsync(load, "ready");

        await ReloadManyTimesAsync(broker);
        await MosquittoClients.PublishAsync(broker, ["-t", "control/stop", "-q", "1", "-m", "stop"]);

        var result = await Interop.ResultAsync(load, TimeSpan.FromSeconds(60));
        var acknowledged = result.GetProperty("acknowledged").GetInt32();
        Assert.True(acknowledged > 50, $"only {acknowledged} messages were published during the reloads");
        Assert.Equal(acknowledged, result.GetProperty("received").GetInt32());
        Assert.Equal(0, result.GetProperty("duplicates").GetInt32());
        // The plugin acted on every message: reload starts the new instance before removing the old one.
        Assert.Equal(0, result.GetProperty("notRewritten").GetInt32());
        Assert.Equal(0, result.GetProperty("disconnects").GetInt32());
    }

    [Fact]
    public async Task Reload20Times_ConnectsWithCredentialsThePluginRefuses_NeverAdmitted()
    {
        await using var broker = await StartWithHelloAsync();
        await using var storm = Interop.StartNode("reload_auth_storm.js", broker, new { username = "intruder", timeoutSeconds = 240 });
        await Interop.WaitForEventAsync(storm, "ready");

        await ReloadManyTimesAsync(broker);
        await MosquittoClients.PublishAsync(broker, ["-t", "control/stop", "-q", "1", "-m", "stop"]);

        var result = await Interop.ResultAsync(storm, TimeSpan.FromSeconds(60));
        Assert.True(result.GetProperty("attempts").GetInt32() > Reloads, result.ToString());
        Assert.Equal(0, result.GetProperty("admitted").GetInt32());
    }
}
