using System.Net;
using System.Text;
using System.Text.Json;

namespace Broker.EndToEnd.Tests.Infrastructure;

/// <summary>Requests to the management API (or a plugin's endpoints on it) with a JSON body, for their status and JSON answer.</summary>
public static class ManagementHttp
{
    public static async Task<(HttpStatusCode Status, JsonElement Body)> SendAsync(HttpClient http, HttpMethod method, string path, string? json = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null)
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    /// <summary>GET /api/v4/listeners: the node's listeners.</summary>
    public static async Task<JsonElement> ListenersAsync(HttpClient http)
    {
        var text = await http.GetStringAsync("api/v4/listeners", TestContext.Current.CancellationToken);
        return JsonDocument.Parse(text).RootElement.GetProperty("data")[0].GetProperty("listeners").Clone();
    }

    public static JsonElement Listener(JsonElement listeners, string identifier) =>
        listeners.EnumerateArray().Single(l => l.GetProperty("identifier").GetString() == identifier);

    /// <summary>A listener's current_conns once it reads <paramref name="expected"/>, or what it reads after 10 s.</summary>
    public static async Task<int> CurrentConnectionsAsync(HttpClient http, string identifier, int expected)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            // The broker counts a connection out just after its socket has closed: the client may see the close first.
            var count = Listener(await ListenersAsync(http), identifier).GetProperty("current_conns").GetInt32();
            if (count == expected || clock.Elapsed > TimeSpan.FromSeconds(10))
                return count;
        }
    }
}
