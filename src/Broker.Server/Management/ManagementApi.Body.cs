using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;

namespace Broker.Server.Management;

internal static partial class ManagementApi
{
    /// <summary>Largest request body the API reads; its requests are small JSON objects.</summary>
    public const int MaxBodyBytes = 1024 * 1024;

    /// <summary>
    /// Reads a JSON request body for POST/PUT endpoints (publish, subscribe, plugins): on success
    /// <paramref name="value"/> is set and <paramref name="error"/> is null; otherwise <paramref name="error"/> is the
    /// 400 answer (code 109 for malformed JSON, 107 for a missing body).
    /// </summary>
    public static async Task<(T? Value, IResult? Error)> ReadJsonAsync<T>(HttpRequest request, JsonTypeInfo<T> type)
        where T : class
    {
        if (request.ContentLength is > MaxBodyBytes)
            return (null, Error(StatusCodes.Status400BadRequest, ApiCodes.BadParameter, $"request body over {MaxBodyBytes} bytes"));
        try
        {
            var value = await JsonSerializer.DeserializeAsync(request.Body, type, request.HttpContext.RequestAborted).ConfigureAwait(false);
            return value is null
                ? (null, Error(StatusCodes.Status400BadRequest, ApiCodes.MissingParameter, "a JSON object is required"))
                : (value, null);
        }
        catch (JsonException ex)
        {
            return (null, Error(StatusCodes.Status400BadRequest, ApiCodes.BadJson, $"request body is not valid JSON: {ex.Message}"));
        }
    }
}
