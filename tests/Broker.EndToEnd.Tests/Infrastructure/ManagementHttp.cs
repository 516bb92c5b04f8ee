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
}
