using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Broker.Ctl;

/// <summary>
/// The management API as ctl uses it: one call per command, answers in EMQX 4's shape
/// (<c>{"code":0,"data":...}</c>). Every failure becomes a <see cref="CtlException"/> with a message for
/// operators: broker not running, wrong credentials, or the API's own <c>message</c>.
/// </summary>
internal sealed class ManagementClient : IDisposable
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);

    private readonly HttpClient _http;
    private readonly CtlConnection _connection;

    public ManagementClient(CtlConnection connection)
    {
        _connection = connection;
        _http = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(5), UseProxy = false })
        {
            BaseAddress = connection.BaseUrl,
            Timeout = RequestTimeout,
        };
        if (connection.Secret is not null)
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue(
                "Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(connection.User + ":" + connection.Secret)));
        }
    }

    public Task<JsonDocument> GetAsync(string path, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Get, path, body: null, cancellationToken);

    public Task<JsonDocument> DeleteAsync(string path, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Delete, path, body: null, cancellationToken);

    public Task<JsonDocument> PostAsync(string path, string? jsonBody, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, path, jsonBody, cancellationToken);

    public Task<JsonDocument> PutAsync(string path, string? jsonBody, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Put, path, jsonBody, cancellationToken);

    /// <summary>A path segment (client id, plugin name) escaped for the URL.</summary>
    public static string Segment(string value) => Uri.EscapeDataString(value);

    /// <summary>A JSON object for a request body, written by <paramref name="write"/>.</summary>
    public static string JsonObject(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            write(json);
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>
    /// A call to endpoints a plugin adds to the API: when the API does not know the path (the plugin is not loaded), the
    /// error says to load <paramref name="plugin"/>.
    /// </summary>
    public static async Task<JsonDocument> OfPluginAsync(string plugin, Func<Task<JsonDocument>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (CtlException ex) when (ex.Message.StartsWith("no endpoint ", StringComparison.Ordinal)
            || ex.Message.StartsWith($"plugin '{plugin}' has no endpoint", StringComparison.Ordinal))
        {
            throw new CtlException($"the {plugin} plugin is not loaded: ctl plugins load {plugin}");
        }
    }

    /// <summary>Sends one request; returns the whole answer (<c>code</c>, <c>data</c>, <c>meta</c>) when code is 0.</summary>
    public async Task<JsonDocument> SendAsync(HttpMethod method, string path, string? body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, path.TrimStart('/'));
        if (body is not null)
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex) when (ex.InnerException is SocketException || ex.HttpRequestError == HttpRequestError.ConnectionError)
        {
            throw new CtlException($"broker is not running at {_connection.Display}");
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new CtlException($"the broker at {_connection.Display} did not answer within {RequestTimeout.TotalSeconds:0} s");
        }

        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.Unauthorized)
            {
                throw new CtlException(_connection.Secret is null
                    ? $"the management API at {_connection.Display} needs a secret: none configured in etc/broker.conf, no data/management.secret in the broker home; pass --home or --secret"
                    : $"the management API at {_connection.Display} refused application id '{_connection.User}' and its secret");
            }
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(text);
            }
            catch (JsonException)
            {
                throw new CtlException($"{_connection.Display} answered {(int)response.StatusCode} with something that is not the management API's JSON");
            }
            var root = document.RootElement;
            var code = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.Number ? c.GetInt32() : -1;
            if (!response.IsSuccessStatusCode || code != 0)
            {
                var message = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("message", out var m) ? m.GetString() : null;
                document.Dispose();
                throw new CtlException(message ?? $"{method} {path}: HTTP {(int)response.StatusCode}");
            }
            // A cluster-wide answer without some node's part: say so, or the operator reads a partial list as whole.
            if (root.TryGetProperty("node_errors", out var missing) && missing.ValueKind == JsonValueKind.Array)
            {
                foreach (var node in missing.EnumerateArray())
                    await Console.Error.WriteLineAsync($"warning: node {node.GetProperty("node").GetString()} is not in this answer: {node.GetProperty("error").GetString()}").ConfigureAwait(false);
            }
            return document;
        }
    }

    public void Dispose() => _http.Dispose();
}
