"""The sample bank's ATMs: names, areas, landmarks and addresses in zh, en and ko, and hours.

Hand-written (real places, made-up machines). `hours` is ``24h`` or ``HH:MM-HH:MM`` local time;
`utc_offset` is the city's offset in hours (no daylight saving: a sample).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ATMS", "Atm"]


@dataclass(frozen=True)
class Atm:
    """One ATM, with its words in each language."""

    id: str
    name: dict[str, str]
    area: dict[str, str]
    landmarks: dict[str, tuple[str, ...]]
    address: dict[str, str]
    hours: str
    utc_offset: int


def _atm(id: str, hours: str, offset: int, *langs: tuple[str, str, str, tuple[str, ...]]) -> Atm:
    """`langs`: (name, area, address, landmarks) in zh, en, ko order."""
    keys = ("zh", "en", "ko")
    return Atm(id, {k: v[0] for k, v in zip(keys, langs, strict=True)},
               {k: v[1] for k, v in zip(keys, langs, strict=True)},
               {k: v[3] for k, v in zip(keys, langs, strict=True)},
               {k: v[2] for k, v in zip(keys, langs, strict=True)}, hours, offset)


ATMS: tuple[Atm, ...] = (
    _atm("BJ-GM-1", "24h", 8,
         ("国贸大厦自助银行", "国贸", "北京市朝阳区建国门外大街1号", ("国贸大厦", "国贸地铁站")),
         ("China World ATM lobby", "Guomao", "1 Jianguomenwai Avenue, Chaoyang, Beijing",
          ("China World Trade Center", "Guomao station")),
         ("궈마오 무역센터 ATM", "궈마오", "베이징 차오양구 젠궈먼와이대가 1호", ("국제무역센터", "궈마오역"))),
    _atm("BJ-WFJ-1", "08:00-22:00", 8,
         ("王府井百货自助银行", "王府井", "北京市东城区王府井大街255号", ("王府井百货", "王府井步行街")),
         ("Wangfujing Department Store ATM", "Wangfujing", "255 Wangfujing Street, Dongcheng, Beijing",
          ("Wangfujing Department Store", "Wangfujing pedestrian street")),
         ("왕푸징 백화점 ATM", "왕푸징", "베이징 둥청구 왕푸징대가 255호", ("왕푸징 백화점", "왕푸징 거리"))),
    _atm("BJ-ZGC-1", "09:00-21:00", 8,
         ("中关村广场自助银行", "中关村", "北京市海淀区中关村大街15号", ("中关村广场", "海龙大厦")),
         ("Zhongguancun Plaza ATM", "Zhongguancun", "15 Zhongguancun Street, Haidian, Beijing",
          ("Zhongguancun Plaza", "Hailong Building")),
         ("중관춘 광장 ATM", "중관춘", "베이징 하이뎬구 중관춘대가 15호", ("중관춘 광장", "하이룽 빌딩"))),
    _atm("SH-LJZ-1", "24h", 8,
         ("陆家嘴环路自助银行", "陆家嘴", "上海市浦东新区陆家嘴环路1000号", ("东方明珠", "上海中心")),
         ("Lujiazui Ring Road ATM", "Lujiazui", "1000 Lujiazui Ring Road, Pudong, Shanghai",
          ("Oriental Pearl Tower", "Shanghai Tower")),
         ("루자쭈이 ATM", "루자쭈이", "상하이 푸둥 루자쭈이환로 1000호", ("동방명주", "상하이 타워"))),
    _atm("SH-NJL-1", "07:00-23:00", 8,
         ("南京东路自助银行", "南京路", "上海市黄浦区南京东路300号", ("人民广场", "外滩")),
         ("Nanjing Road East ATM", "Nanjing Road", "300 East Nanjing Road, Huangpu, Shanghai",
          ("People's Square", "the Bund")),
         ("난징둥루 ATM", "난징루", "상하이 황푸구 난징둥루 300호", ("인민광장", "와이탄"))),
    _atm("SH-XJH-1", "09:00-21:00", 8,
         ("徐家汇港汇自助银行", "徐家汇", "上海市徐汇区虹桥路1号", ("港汇恒隆广场", "徐家汇天主教堂")),
         ("Xujiahui Grand Gateway ATM", "Xujiahui", "1 Hongqiao Road, Xuhui, Shanghai",
          ("Grand Gateway 66", "Xujiahui Cathedral")),
         ("쉬자후이 ATM", "쉬자후이", "상하이 쉬후이구 훙차오로 1호", ("강후이 광장", "쉬자후이 성당"))),
    _atm("SEL-GN-1", "24h", 9,
         ("江南站自助银行", "江南", "首尔江南区江南大路396", ("江南站", "江南十字路口")),
         ("Gangnam Station ATM", "Gangnam", "396 Gangnam-daero, Gangnam-gu, Seoul",
          ("Gangnam Station", "Gangnam crossroads")),
         ("강남역 ATM", "강남", "서울 강남구 강남대로 396", ("강남역", "강남역 사거리"))),
    _atm("SEL-GN-2", "08:00-23:00", 9,
         ("江南COEX自助银行", "江南", "首尔江南区永东大路513", ("COEX", "三成站")),
         ("COEX Mall ATM", "Gangnam", "513 Yeongdong-daero, Gangnam-gu, Seoul",
          ("COEX Mall", "Samseong Station")),
         ("코엑스몰 ATM", "강남", "서울 강남구 영동대로 513", ("코엑스", "삼성역"))),
    _atm("SEL-MD-1", "09:00-22:00", 9,
         ("明洞乐天百货自助银行", "明洞", "首尔中区南大门路81", ("乐天百货", "明洞站")),
         ("Myeongdong Lotte ATM", "Myeongdong", "81 Namdaemun-ro, Jung-gu, Seoul",
          ("Lotte Department Store", "Myeongdong Station")),
         ("명동 롯데백화점 ATM", "명동", "서울 중구 남대문로 81", ("롯데백화점", "명동역"))),
    _atm("SEL-YID-1", "24h", 9,
         ("汝矣岛IFC自助银行", "汝矣岛", "首尔永登浦区国际金融路10", ("IFC商场", "汝矣岛站")),
         ("Yeouido IFC ATM", "Yeouido", "10 Gukjegeumyung-ro, Yeongdeungpo-gu, Seoul",
          ("IFC Mall", "Yeouido Station")),
         ("여의도 IFC ATM", "여의도", "서울 영등포구 국제금융로 10", ("IFC몰", "여의도역"))),
    _atm("SEL-JS-1", "10:00-22:00", 9,
         ("蚕室乐天世界自助银行", "蚕室", "首尔松坡区奥林匹克路240", ("乐天世界", "蚕室站")),
         ("Jamsil Lotte World ATM", "Jamsil", "240 Olympic-ro, Songpa-gu, Seoul",
          ("Lotte World", "Jamsil Station")),
         ("잠실 롯데월드 ATM", "잠실", "서울 송파구 올림픽로 240", ("롯데월드", "잠실역"))),
    _atm("BS-HUD-1", "09:00-23:00", 9,
         ("海云台海水浴场自助银行", "海云台", "釜山海云台区海云台海边路264", ("海云台海水浴场",)),
         ("Haeundae Beach ATM", "Haeundae", "264 Haeundaehaebyeon-ro, Busan",
          ("Haeundae Beach",)),
         ("해운대 해수욕장 ATM", "해운대", "부산 해운대구 해운대해변로 264", ("해운대 해수욕장",))),
    _atm("NY-MT-1", "24h", -5,
         ("时代广场自助银行", "曼哈顿中城", "纽约百老汇1501号", ("时代广场", "百老汇")),
         ("Times Square ATM", "Midtown", "1501 Broadway, New York, NY",
          ("Times Square", "Broadway")),
         ("타임스스퀘어 ATM", "미드타운", "뉴욕 브로드웨이 1501", ("타임스스퀘어", "브로드웨이"))),
    _atm("NY-WS-1", "07:00-19:00", -5,
         ("华尔街自助银行", "华尔街", "纽约华尔街40号", ("纽约证券交易所", "铜牛")),
         ("Wall Street ATM", "Wall Street", "40 Wall Street, New York, NY",
          ("New York Stock Exchange", "Charging Bull")),
         ("월스트리트 ATM", "월스트리트", "뉴욕 월스트리트 40", ("뉴욕증권거래소", "황소상"))),
    _atm("SF-US-1", "06:00-22:00", -8,
         ("联合广场自助银行", "联合广场", "旧金山鲍威尔街170号", ("联合广场", "缆车站")),
         ("Union Square ATM", "Union Square", "170 Powell Street, San Francisco, CA",
          ("Union Square", "cable car turnaround")),
         ("유니언 스퀘어 ATM", "유니언 스퀘어", "샌프란시스코 파월 스트리트 170", ("유니언 스퀘어", "케이블카 정류장"))),
)
"""Every ATM of the sample bank."""
