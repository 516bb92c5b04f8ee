using System.IO.Compression;
using System.Reflection;
using System.Security.Cryptography;

namespace Broker.Plugins.Dashboard;

/// <summary>One page asset, held in memory with its gzip form and an ETag.</summary>
internal sealed record Asset(string ContentType, byte[] Body, byte[] Gzip, string ETag);

/// <summary>The pages compiled into the assembly (<c>wwwroot/**</c>), read once per start: a reload serves new ones.</summary>
internal static class Assets
{
    public static Dictionary<string, Asset> Load(Assembly assembly)
    {
        var assets = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames())
        {
            if (!name.StartsWith("wwwroot/", StringComparison.Ordinal))
                continue;
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var body = copy.ToArray();
            using var compressed = new MemoryStream();
            using (var gzip = new GZipStream(compressed, CompressionLevel.SmallestSize, leaveOpen: true))
                gzip.Write(body);
            var etag = "\"" + Convert.ToHexString(SHA256.HashData(body), 0, 8) + "\"";
            assets["/" + name["wwwroot/".Length..]] = new Asset(ContentTypeOf(name), body, compressed.ToArray(), etag);
        }
        return assets;
    }

    private static string ContentTypeOf(string name) => Path.GetExtension(name) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".svg" => "image/svg+xml",
        ".png" => "image/png",
        ".json" => "application/json; charset=utf-8",
        _ => "application/octet-stream",
    };
}
