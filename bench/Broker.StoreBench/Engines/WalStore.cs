using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Broker.StoreBench;

/// <summary>
/// A minimal write-ahead log of our own, to see what the engines cost over the least a durable queue must do.
/// Records go to numbered segment files, each framed as [length u32][CRC-32C u32][kind u8][key length u16][key][value];
/// a group is one write + one fsync; a delete is a tombstone. An in-memory index (key → segment and offset of its
/// latest put) says what is live, and a segment's file is deleted once it holds no live record and every older one is
/// gone (oldest first, so a tombstone never outlives the put it hides). A restart reads every segment, stopping a
/// segment at a torn or corrupt record. Scans are in log order, which is each session's order. Not done, as a real one
/// would: fsync the directory when a segment is created, and cap the index's memory (about 100 bytes per live record).
/// </summary>
internal sealed class WalStore : IMessageStore
{
    private const int HeaderSize = 8;
    private const byte KindPut = 1;
    private const byte KindDelete = 2;
    private readonly string _directory;
    private readonly long _segmentSize;
    private readonly Dictionary<byte[], (int Segment, long Offset)> _index = new(ByteArrayComparer.Instance);
    // Live records per segment, oldest first.
    private readonly SortedDictionary<int, int> _live = [];
    private byte[] _buffer = new byte[1 << 16];
    private FileStream _active = null!;
    private int _activeSegment;

    public WalStore(string directory, long segmentSize = 64L << 20)
    {
        _directory = directory;
        _segmentSize = segmentSize;
        foreach (var segment in Segments())
        {
            _live[segment] = 0;
            ReadSegment(segment, (kind, key, _, offset) => Apply(kind, key.ToArray(), segment, offset));
            _activeSegment = segment;
        }
        OpenSegment(_activeSegment + 1);
    }

    public void Commit(ReadOnlySpan<StoreOp> batch)
    {
        var length = 0;
        var start = _active.Position;
        foreach (ref readonly var op in batch)
        {
            var size = HeaderSize + 3 + op.Key.Length + op.Value.Length;
            if (_buffer.Length < length + size)
            {
                Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, length + size));
            }
            var record = _buffer.AsSpan(length, size);
            var body = record[HeaderSize..];
            body[0] = op.IsDelete ? KindDelete : KindPut;
            BinaryPrimitives.WriteUInt16LittleEndian(body[1..], (ushort)op.Key.Length);
            op.Key.CopyTo(body[3..]);
            op.Value.Span.CopyTo(body[(3 + op.Key.Length)..]);
            BinaryPrimitives.WriteUInt32LittleEndian(record, (uint)body.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(record[4..], Crc32C(body));
            Apply(body[0], op.Key, _activeSegment, start + length);
            length += size;
        }
        _active.Write(_buffer, 0, length);
        _active.Flush(flushToDisk: true);
        DeleteAckedSegments();
        if (_active.Position >= _segmentSize)
        {
            _active.Dispose();
            OpenSegment(_activeSegment + 1);
        }
    }

    public long Scan(RecordVisitor visitor)
    {
        long count = 0;
        foreach (var segment in _live.Keys)
        {
            ReadSegment(segment, (kind, key, value, offset) =>
            {
                if (kind == KindPut && _index.GetAlternateLookup<ReadOnlySpan<byte>>().TryGetValue(key, out var at) && at == (segment, offset))
                {
                    visitor(key, value);
                    count++;
                }
            });
        }
        return count;
    }

    /// <summary>Copies the live records of every closed segment into a new one, then deletes the closed ones.</summary>
    public void Compact()
    {
        var closed = _live.Keys.ToArray();
        _active.Dispose();
        OpenSegment(_activeSegment + 1);
        var batch = new List<StoreOp>();
        foreach (var segment in closed)
        {
            if (!_live.ContainsKey(segment))
            {
                continue; // Already deleted by an earlier step's commit: it had nothing live.
            }
            ReadSegment(segment, (kind, key, value, offset) =>
            {
                if (kind == KindPut && _index.GetAlternateLookup<ReadOnlySpan<byte>>().TryGetValue(key, out var at) && at == (segment, offset))
                {
                    batch.Add(StoreOp.Put(key.ToArray(), value.ToArray()));
                }
            });
            Commit(CollectionsMarshal.AsSpan(batch));
            batch.Clear();
        }
    }

    public void Maintain()
    {
        // Acked segments are deleted at commit.
    }

    public void Dispose() => _active.Dispose();

    private void Apply(byte kind, byte[] key, int segment, long offset)
    {
        if (_index.Remove(key, out var previous))
        {
            _live[previous.Segment]--;
        }
        if (kind == KindPut)
        {
            _index[key] = (segment, offset);
            _live[segment]++;
        }
    }

    private void DeleteAckedSegments()
    {
        while (_live.Count > 1)
        {
            var (oldest, live) = _live.First();
            if (live > 0 || oldest == _activeSegment)
            {
                return;
            }
            File.Delete(SegmentPath(oldest));
            _live.Remove(oldest);
        }
    }

    private void OpenSegment(int segment)
    {
        _activeSegment = segment;
        _live.TryAdd(segment, 0);
        _active = new FileStream(SegmentPath(segment), FileMode.Append, FileAccess.Write, FileShare.Read, bufferSize: 0);
    }

    private delegate void RecordReader(byte kind, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, long offset);

    /// <summary>Reads a segment's records in order; a torn or corrupt record ends the segment and is cut off.</summary>
    private void ReadSegment(int segment, RecordReader reader)
    {
        var bytes = File.ReadAllBytes(SegmentPath(segment));
        var offset = 0;
        while (offset + HeaderSize <= bytes.Length)
        {
            var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(offset));
            if (length < 3 || offset + HeaderSize + length > bytes.Length)
            {
                break;
            }
            var body = bytes.AsSpan(offset + HeaderSize, length);
            if (Crc32C(body) != BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(offset + 4)))
            {
                break;
            }
            var keyLength = BinaryPrimitives.ReadUInt16LittleEndian(body[1..]);
            reader(body[0], body.Slice(3, keyLength), body[(3 + keyLength)..], offset);
            offset += HeaderSize + length;
        }
        if (offset < bytes.Length)
        {
            using var torn = new FileStream(SegmentPath(segment), FileMode.Open, FileAccess.Write);
            torn.SetLength(offset);
        }
    }

    private IEnumerable<int> Segments() => Directory.EnumerateFiles(_directory, "*.wal")
        .Select(path => int.Parse(Path.GetFileNameWithoutExtension(path), System.Globalization.CultureInfo.InvariantCulture))
        .Order();

    private string SegmentPath(int segment) => Path.Combine(_directory, $"{segment:D8}.wal");

    private static uint Crc32C(ReadOnlySpan<byte> data)
    {
        var crc = uint.MaxValue;
        while (data.Length >= 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }
        foreach (var b in data)
        {
            crc = BitOperations.Crc32C(crc, b);
        }
        return ~crc;
    }

    private sealed class ByteArrayComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
    {
        public static readonly ByteArrayComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] key) => GetHashCode((ReadOnlySpan<byte>)key);

        public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);

        public int GetHashCode(ReadOnlySpan<byte> alternate)
        {
            var hash = new HashCode();
            hash.AddBytes(alternate);
            return hash.ToHashCode();
        }

        public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();
    }
}
