using System.Net.Sockets;
using Broker.EndToEnd.Tests.Infrastructure;
using static Broker.EndToEnd.Tests.Infrastructure.MqttBytes;

namespace Broker.EndToEnd.Tests.AuthPlugins;

/// <summary>What the backend servers and the auth tests share: running a tool, connecting with mosquitto.</summary>
public static class Backends
{
    /// <summary>Kills a backend server (SIGKILL: connections drop, nothing is said goodbye) and returns null for its field.</summary>
    public static async Task<ChildProcess?> KillAsync(ChildProcess? process, TimeSpan? exitTimeout = null)
    {
        if (process is null)
            return null;
        process.Kill();
        await process.WaitForExitAsync(exitTimeout ?? TimeSpan.FromSeconds(10));
        await process.DisposeAsync();
        return null;
    }

    /// <summary>Runs a tool to its end and returns its stdout; fails the test with its transcript unless it exits 0.</summary>
    public static async Task<string> RunAsync(string executable, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        await using var process = ChildProcess.Start(executable, arguments, environment);
        var code = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.True(code == 0, $"exit code {code}\n{process.Transcript}");
        return string.Join('\n', process.StdoutLines);
    }

    /// <summary>
    /// Connects with mosquitto_pub (MQTT 3.1.1) as <paramref name="user"/> and publishes one message to
    /// <paramref name="topic"/>; returns the CONNACK outcome as mosquitto prints it: "accepted", or the text after
    /// "Connection Refused: " ("bad user name or password", "not authorised", "broker unavailable").
    /// </summary>
    public static async Task<string> ConnectAsync(BrokerProcess broker, string? user, string? password, string clientId = "", string topic = "auth/probe")
    {
        List<string> arguments = ["-V", "mqttv311", "-t", topic, "-m", "x", "-q", "1"];
        if (clientId.Length > 0)
            arguments.AddRange(["-i", clientId]);
        if (user is not null)
            arguments.AddRange(["-u", user]);
        if (password is not null)
            arguments.AddRange(["-P", password]);
        await using var pub = MosquittoClients.StartPub(broker, [.. arguments]);
        var code = await pub.WaitForExitAsync(MosquittoClients.Timeout);
        if (code == 0)
            return "accepted";
        var transcript = pub.Transcript;
        var marker = transcript.IndexOf("Connection Refused: ", StringComparison.Ordinal);
        Assert.True(marker >= 0, $"mosquitto_pub failed without a CONNACK refusal:\n{transcript}");
        var rest = transcript[(marker + "Connection Refused: ".Length)..];
        return rest[..rest.IndexOfAny(['.', '\n'])].Trim();
    }

    /// <summary>SUBSCRIBEs each filter at QoS 1 (MQTT 3.1.1) as <paramref name="user"/>; returns the SUBACK codes in order.</summary>
    public static async Task<byte[]> SubackAsync(BrokerProcess broker, string user, string password, params string[] filters)
    {
        await using var client = await RawMqttClient.ConnectMqttAsync(broker, ConnectPacket("sub-" + user, V311, username: user, password: password));
        var codes = new List<byte>();
        ushort id = 1;
        foreach (var filter in filters)
        {
            await client.SendAsync(SubscribePacket(id++, filter, 1, V311));
            codes.Add(Assert.Single(SubackCodes(await client.ReceiveAsync(Suback), V311)));
        }
        return [.. codes];
    }

    /// <summary>
    /// The reload-under-load check of every auth plugin (auth_reload_load.js): at least 20 reloads of
    /// <paramref name="plugin"/>, on until four wrong-password loops have tried 21 times in all, while clients log in as alice with
    /// <paramref name="password"/> (the script's wrong one is it with "-wrong" appended); no right password refused, no
    /// wrong one admitted, no steady client dropped, no instance leaking.
    /// </summary>
    public static async Task Reload20TimesUnderConnectLoadAsync(BrokerProcess broker, string plugin, string password)
    {
        await using var load = Interop.StartNode("auth_reload_load.js", broker,
            new { username = "alice", password, churn = 200, steady = 20, wrongEnough = 21, wrongLoops = 4, timeoutSeconds = 300 });
        await Interop.WaitForEventAsync(load, "ready", TimeSpan.FromSeconds(60));

        // At least 20 reloads, and on until the four wrong-password loops, among 200 right ones, have tried 21 times
        // in all (a plugin that reloads fast is done with 20 before that).
        var wrongEnough = Interop.WaitForEventAsync(load, "wrong-enough", TimeSpan.FromSeconds(120));
        for (var i = 0; i < 20 || !wrongEnough.IsCompleted; i++)
        {
            var reload = await CtlRunner.RunAsync(broker, "plugins", "reload", plugin);
            Assert.True(reload.ExitCode == 0, $"reload {i + 1}: {reload.Transcript}");
        }
        await wrongEnough;
        await MosquittoClients.PublishAsync(broker, ["-u", "alice", "-P", password, "-t", "control/stop", "-q", "1", "-m", "stop"]);

        var result = await Interop.ResultAsync(load, TimeSpan.FromSeconds(120));
        Assert.True(result.GetProperty("rightAttempts").GetInt32() > 200, result.ToString());
        Assert.True(result.GetProperty("wrongAttempts").GetInt32() > 20, result.ToString());
        Assert.True(result.GetProperty("rightRefused").GetInt32() == 0, result.ToString());
        Assert.Equal(0, result.GetProperty("wrongAdmitted").GetInt32());
        Assert.Equal(0, result.GetProperty("steadyDropped").GetInt32());
        await broker.WaitForLogAsync(l => l.Contains($"Plugin {plugin} reloaded", StringComparison.Ordinal), "the reloads logged");
        // Every instance the reloads replaced, checked 5 s after its unload (the last few may not be checked yet), left.
        Assert.DoesNotContain("is leaking", broker.Transcript, StringComparison.Ordinal);
    }
}
