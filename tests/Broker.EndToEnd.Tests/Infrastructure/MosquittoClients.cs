using System.Globalization;

namespace Broker.EndToEnd.Tests.Infrastructure;

/// <summary>A message as printed by <see cref="MosquittoClients"/>' subscribers.</summary>
public sealed record ReceivedMessage(string Topic, int Qos, bool Retain, string Payload)
{
    public const string Prefix = "MSG\t";

    /// <summary>The -F format every subscriber here prints with: tab-separated so debug lines never match.</summary>
    public const string Format = @"MSG\t%t\t%q\t%r\t%p";

    public static bool IsMessage(string line) => line.StartsWith(Prefix, StringComparison.Ordinal);

    public static ReceivedMessage Parse(string line)
    {
        var parts = line.Split('\t', 5);
        return new ReceivedMessage(
            parts[1], int.Parse(parts[2], CultureInfo.InvariantCulture), parts[3] == "1", parts.Length > 4 ? parts[4] : "");
    }
}

/// <summary>mosquitto_sub / mosquitto_pub (Debian mosquitto-clients) as child processes.</summary>
public static class MosquittoClients
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Starts mosquitto_sub (-d, so its SUBACK shows) printing messages as <see cref="ReceivedMessage.Format"/>
    /// and returns once the broker acknowledged the subscription.
    /// </summary>
    public static async Task<ChildProcess> SubscribeAsync(BrokerProcess broker, params string[] arguments)
    {
        var sub = StartSub(broker, arguments);
        await sub.WaitForLineAsync(l => l.Contains("received SUBACK", StringComparison.Ordinal), Timeout, "mosquitto_sub's SUBACK");
        return sub;
    }

    /// <summary>Starts mosquitto_sub without waiting for anything.</summary>
    /// <remarks>stdbuf -oL: mosquitto_sub's debug lines are otherwise block-buffered into the pipe.</remarks>
    public static ChildProcess StartSub(BrokerProcess broker, params string[] arguments) =>
        ChildProcess.Start(
            Tools.Require("stdbuf", "coreutils"),
            ["-oL", Tools.Require("mosquitto_sub", "mosquitto-clients"), "-h", broker.Host, "-p", broker.Port.ToString(CultureInfo.InvariantCulture), "-d", "-F", ReceivedMessage.Format, .. arguments]);

    /// <summary>Starts mosquitto_pub; with <paramref name="lines"/>, adds -l and sends one message per line.</summary>
    public static ChildProcess StartPub(BrokerProcess broker, string[] arguments, IEnumerable<string>? lines = null)
    {
        var pub = ChildProcess.Start(
            Tools.Require("mosquitto_pub", "mosquitto-clients"),
            ["-h", broker.Host, "-p", broker.Port.ToString(CultureInfo.InvariantCulture), "-d", .. arguments, .. lines is null ? Array.Empty<string>() : ["-l"]],
            redirectStdin: true);
        if (lines is not null)
        {
            foreach (var line in lines)
            {
                pub.StandardInput.WriteLine(line);
            }
        }

        pub.StandardInput.Close();
        return pub;
    }

    /// <summary>Runs mosquitto_pub to completion and fails unless it exits 0.</summary>
    public static async Task PublishAsync(BrokerProcess broker, string[] arguments, IEnumerable<string>? lines = null)
    {
        await using var pub = StartPub(broker, arguments, lines);
        var code = await pub.WaitForExitAsync(Timeout);
        Assert.True(code == 0, $"mosquitto_pub exited with {code}\n{pub.Transcript}");
    }

    /// <summary>Waits for <paramref name="count"/> messages on a subscriber and returns them.</summary>
    public static async Task<IReadOnlyList<ReceivedMessage>> MessagesAsync(ChildProcess sub, int count, TimeSpan? timeout = null) =>
        [.. (await sub.WaitForLinesAsync(ReceivedMessage.IsMessage, count, timeout ?? Timeout, $"{count} messages"))
            .Select(ReceivedMessage.Parse)];

    /// <summary>The messages a subscriber printed so far.</summary>
    public static IReadOnlyList<ReceivedMessage> MessagesSoFar(ChildProcess sub) =>
        [.. sub.StdoutLines.Where(ReceivedMessage.IsMessage).Select(ReceivedMessage.Parse)];
}
