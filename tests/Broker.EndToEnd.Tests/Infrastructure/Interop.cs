using System.Text.Json;

namespace Broker.EndToEnd.Tests.Infrastructure;

/// <summary>
/// MQTT.js (node) and Eclipse Paho (Debian python3) scripts in tests/interop. Each takes one JSON argument
/// and prints one JSON object per line: progress events the test waits on and a final {"event":"result"}.
/// </summary>
public static class Interop
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <param name="stdin">Keep the script's standard input open for the test to write to.</param>
    public static ChildProcess StartNode(string script, BrokerProcess broker, object? arguments = null, bool stdin = false) =>
        ChildProcess.Start(
            Tools.RequireMqttJs(), [Path.Combine(Tools.InteropDirectory, script), Arguments(broker, arguments)],
            workingDirectory: Tools.InteropDirectory, redirectStdin: stdin);

    public static ChildProcess StartPaho(string script, BrokerProcess broker, object? arguments = null)
    {
        Tools.RequirePaho();
        return ChildProcess.Start(
            Tools.Python, [Path.Combine(Tools.InteropDirectory, script), Arguments(broker, arguments)],
            workingDirectory: Tools.InteropDirectory);
    }

    /// <summary>Waits for the <paramref name="count"/>th line {"event": name, ...} and returns it.</summary>
    public static async Task<JsonElement> WaitForEventAsync(ChildProcess script, string name, TimeSpan? timeout = null, int count = 1)
    {
        var lines = await script.WaitForLinesAsync(l => EventName(l) == name, count, timeout ?? Timeout, $"event \"{name}\"");
        return JsonDocument.Parse(lines[count - 1]).RootElement.Clone();
    }

    /// <summary>Runs a script to its {"event":"result"} line and a zero exit code.</summary>
    public static async Task<JsonElement> ResultAsync(ChildProcess script, TimeSpan? timeout = null)
    {
        var result = await WaitForEventAsync(script, "result", timeout);
        var code = await script.WaitForExitAsync(timeout ?? Timeout);
        Assert.True(code == 0, $"script exited with {code}\n{script.Transcript}");
        return result;
    }

    private static string? EventName(string line)
    {
        if (!line.StartsWith('{'))
        {
            return null;
        }

        try
        {
            using var doc = JsonDocument.Parse(line);
            return doc.RootElement.TryGetProperty("event", out var e) ? e.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string Arguments(BrokerProcess broker, object? arguments)
    {
        var merged = new Dictionary<string, object?> { ["host"] = broker.Host, ["port"] = broker.Port };
        if (arguments is not null)
        {
            foreach (var property in JsonSerializer.SerializeToElement(arguments).EnumerateObject())
            {
                merged[property.Name] = property.Value;
            }
        }

        return JsonSerializer.Serialize(merged);
    }
}
