using System.Net;
using System.Net.Sockets;
using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests.AuthPlugins;

/// <summary>What the backend servers and the auth tests share: free ports, running a tool, connecting with mosquitto.</summary>
public static class Backends
{
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

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
}
